"""Helpers for the DICOM output and send tests: the real series, the external validators and PACS, snapshots."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import shared_path

LIDC_DICOM = "lidc/LIDC-IDRI-0003/dicom"  # 11 slices, uncompressed, signed 16-bit, GE
JPEG2000_DICOM = "totalsegmentator/dicom_jpeg2000"  # 20 slices, JPEG 2000 lossless, unsigned 12-bit, Siemens
INSTALL_HINT = "run .ci/run, or: apt-get install dicom3tools dcmtk"


def real_series(relative: str) -> Path:
    return shared_path(relative)


def dciodvfy_path() -> str:
    path = shutil.which("dciodvfy")
    if path is None:
        pytest.skip(f"dciodvfy not installed (Debian package dicom3tools; {INSTALL_HINT})")
    return path


def dciodvfy_errors(files: list[Path]) -> dict[str, list[str]]:
    """The 'Error' lines dciodvfy prints for each file (warnings are not errors), by file name."""
    tool = dciodvfy_path()
    errors = {}
    for path in files:
        result = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
        lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith(("Error", "Abort"))]
        if lines or result.returncode != 0:
            errors[path.name] = lines or [f"exit status {result.returncode}"]
    return errors


def dcmtk_tool(name: str) -> str:
    """DCMTK's ``name`` (pynetdicom installs its own storescp into the venv; that one would test pynetdicom
    against itself), or skip."""
    folders = os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin", "/usr/local/bin"]
    for candidate in dict.fromkeys(str(Path(folder) / name) for folder in folders if folder):
        if os.access(candidate, os.X_OK):
            try:
                version = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if "dcmtk" in (version.stdout + version.stderr).lower():
                return candidate
    pytest.skip(f"DCMTK's {name} not installed (Debian package dcmtk; {INSTALL_HINT})")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def snapshot(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``: equal before and after means nothing was touched."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def register_changing_model(folder: Path, name: str = "stresnet") -> Path:
    """A tiny registered STResNet whose output differs from its input by a few HU (the shared tiny models start
    from the identity: their last convolution is zero), so that a written series shows it was denoised."""
    import torch

    from CTDenoiseLib.hu import HUNormalization
    from CTDenoiseLib.models import ModelConfig, build_model
    from CTDenoiseLib.models.files import save_model
    from CTDenoiseLib.models.registry import register_model

    torch.manual_seed(0)
    config = ModelConfig("stresnet", 4, 1)
    module = build_model(config)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.mul_(0.3)
        module.tail.weight.normal_(0, 0.01)  # about 8 HU of mean change on chest CT
    card = {"hu_normalization": HUNormalization().to_dict(), "inference": {"halo": 4}}
    weights, card_path = save_model(module, config, card, folder, name)
    register_model(folder, name, weights, card_path)
    return folder
