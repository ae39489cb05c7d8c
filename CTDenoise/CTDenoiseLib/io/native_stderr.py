"""ITK, GDCM, MetaIO and NIfTI print warnings straight to file descriptor 2 from C++ (``std::cerr``), which Python
cannot intercept. The command line promises one line on stderr, so native calls run inside
``native_stderr_to_log()``: what they print goes to this module's log, which ``--debug`` shows.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Iterator

_log: list[str] = []
_echo = False  # set by --debug: also copy what was captured to stderr


def set_echo(echo: bool) -> None:
    """Args:
        echo: when True, captured native output is also written to stderr (``ctdenoise --debug``)."""
    global _echo
    _echo = echo


def native_log() -> list[str]:
    """What native code printed so far in this process (one entry per captured call that printed something)."""
    return list(_log)


@contextlib.contextmanager
def native_stderr_to_log() -> Iterator[None]:
    """Capture what native code writes to fd 2 during the block into the log (fd 2 is restored afterwards)."""
    fd = 2  # std::cerr writes to descriptor 2 whatever Python's sys.stderr is
    if sys.stderr is not None:
        sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace").strip()
            if text:
                _log.append(text)
                if _echo:
                    print(text, file=sys.stderr, flush=True)
