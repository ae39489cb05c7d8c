"""Writing a file (or folder) atomically: under a temporary name beside the target, renamed onto it only once
complete. Readers never see a partial file, a failed write never replaces a good output, and the temporary is
removed whenever the write does not complete (an error, Ctrl-C, SIGTERM). A writer killed outright (SIGKILL, a
power cut) cannot remove it: temporaries named with ``process_partial_prefix`` carry their writer's process id, and
``sweep_stale_partials`` removes those whose writer is gone before the next write of the same target."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from glob import escape as glob_escape
from pathlib import Path

PARTIAL_SUFFIX = ".partial"


def partial_name(path: str | os.PathLike) -> Path:
    """The default temporary name of ``path``: hidden, beside it, ``.NAME.partial``.

    Args:
        path: the file or folder to be written.
    """
    path = Path(path)
    return path.with_name(f".{path.name}{PARTIAL_SUFFIX}")


def process_partial_prefix(path: str | os.PathLike) -> str:
    """Prefix of a per-process temporary name of ``path`` (``.NAME.PID.``; ``tempfile`` adds a random part and the
    caller ``PARTIAL_SUFFIX``), so that ``sweep_stale_partials`` can tell whether its writer still runs.

    Args:
        path: the file or folder to be written.
    """
    return f".{Path(path).name}.{os.getpid()}."


def sweep_stale_partials(path: str | os.PathLike) -> list[Path]:
    """Delete temporary files or folders of ``path`` left by a writer that no longer runs (killed, a power cut).

    A temporary whose process is alive (a concurrent run) is kept; one named without a process id is removed.

    Args:
        path: the file or folder about to be written.

    Returns:
        The removed temporaries.
    """
    path = Path(path)
    removed = []
    for candidate in path.parent.glob(f".{glob_escape(path.name)}.*{PARTIAL_SUFFIX}*"):
        pid_text = candidate.name[len(path.name) + 2:].split(".", 1)[0]
        if pid_text.isdigit() and _process_alive(int(pid_text)):
            continue
        _remove(candidate)
        removed.append(candidate)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


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
