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
