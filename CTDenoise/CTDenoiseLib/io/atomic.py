"""Writing a file (or folder) atomically: under a temporary name beside the target, renamed onto it only once
complete. Readers never see a partial file, a failed write never replaces a good output, and the temporary is
removed whenever the write does not complete (an error, Ctrl-C, SIGTERM)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PARTIAL_SUFFIX = ".partial"


def partial_name(path: str | os.PathLike) -> Path:
    """The default temporary name of ``path``: hidden, beside it, ``.NAME.partial``.

    Args:
        path: the file or folder to be written.
    """
    path = Path(path)
    return path.with_name(f".{path.name}{PARTIAL_SUFFIX}")


@contextmanager
def atomic_write(path: str | os.PathLike, temporary: str | os.PathLike | None = None) -> Iterator[Path]:
    """Yield the temporary path to write; when the block completes, rename it onto ``path``.

    If the block (or the rename) raises, the temporary file or folder is removed and the error propagates;
    ``path`` is left as it was.

    Args:
        path: the final file or folder (same file system as the temporary, so that the rename is atomic).
        temporary: the name to write under (it must be beside ``path``); default ``partial_name(path)``. Give
            one when the writer needs a particular suffix (``np.save`` adds ``.npy``, matplotlib picks the format
            from it) or a name that is unique per process.

    Yields:
        The temporary path.
    """
    partial = Path(temporary) if temporary is not None else partial_name(path)
    try:
        yield partial
        os.replace(partial, path)
    except BaseException:
        _remove(partial)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    Args:
        path: the file to write.
        text: its whole content.

    Returns:
        ``path`` as a Path.
    """
    with atomic_write(path) as partial:
        partial.write_text(text, encoding="utf-8")
    return Path(path)


def _remove(partial: Path) -> None:
    if partial.is_dir() and not partial.is_symlink():
        shutil.rmtree(partial, ignore_errors=True)
    else:
        partial.unlink(missing_ok=True)
