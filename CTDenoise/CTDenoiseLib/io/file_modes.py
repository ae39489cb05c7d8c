"""Permissions of files written under a temporary name: ``tempfile.mkstemp`` and safetensors create them
readable by their owner only (0600), so a denoised series or exported model would be hidden from colleagues
sharing the folder. Before the rename they get what ``open()`` would have given them: 0666 minus the umask."""

from __future__ import annotations

import os
from pathlib import Path


def current_umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def apply_default_mode(path: str | os.PathLike) -> None:
    os.chmod(Path(path), 0o666 & ~current_umask())
