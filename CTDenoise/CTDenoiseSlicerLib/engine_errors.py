"""Find the one line that says why an engine run failed, instead of showing only an exit code."""

from __future__ import annotations

from typing import Iterable

ENGINE_ERROR_PREFIX = "ctdenoise: error: "

# Failures that happen before the engine can report them itself, with what the user should do.
_HINTS = (
    ("No module named 'torch'", "PyTorch is not installed: use 'Install dependencies' in the CTDenoise module."),
    ("No module named 'CTDenoiseLib'",
     "The CTDenoise engine was not found next to the module: reinstall the extension."),
    ("No module named", "An engine dependency is missing: use 'Install dependencies' in the CTDenoise module."),
    ("CUDA out of memory", "The GPU ran out of memory: choose a smaller tile size under Advanced, or run on the CPU."),
)


def hint_for(line: str) -> str:
    for needle, hint in _HINTS:
        if needle in line:
            return hint
    return ""


def extract_error_line(stderr_lines: Iterable[str], error_events: Iterable[str] = (),
                       return_code: int | None = None) -> str:
    """The engine's own error line; else its JSON error message; else the last stderr line (a traceback's
    last line names the exception); else the exit code."""
    stderr = [line.rstrip() for line in stderr_lines if line.strip()]
    for line in reversed(stderr):
        if line.startswith(ENGINE_ERROR_PREFIX):
            return line[len(ENGINE_ERROR_PREFIX):]
    messages = [message for message in error_events if message]
    if messages:
        return messages[-1]
    if stderr:
        line = stderr[-1].strip()
        hint = hint_for(line)
        return f"{line} {hint}".strip()
    if return_code is None:
        return "the engine stopped without saying why."
    return f"the engine exited with code {return_code} and printed no error."
