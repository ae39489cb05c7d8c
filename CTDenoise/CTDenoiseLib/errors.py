"""The one exception type the engine raises for problems a user can fix."""


class CTDenoiseError(Exception):
    """A problem with the user's input or environment, reported as one line.

    ``str(error)`` is what the command line prints on stderr: what is wrong and what to do.
    """

    def __init__(self, problem: str, hint: str = "") -> None:
        self.problem = problem
        self.hint = hint
        super().__init__(f"{problem} {hint}".strip() if hint else problem)


class Terminated(KeyboardInterrupt):
    """SIGTERM (Slicer's Cancel, a job scheduler) turned into an exception, so that it unwinds like Ctrl-C: every
    ``except BaseException`` cleanup (temporary output files) runs, and a batch stops."""


def one_line(error: BaseException) -> str:
    """An exception as a few words for a one-line message: the operating system's reason where one lies in its
    chain (pydicom wraps a full disk's ``OSError`` in a message carrying a whole traceback), else its first line.

    Args:
        error: the exception caught.
    """
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
