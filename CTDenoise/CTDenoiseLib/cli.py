"""`ctdenoise` command line: one module per subcommand in ``commands/`` (and in the training package's
``commands/`` when it is installed), heavy imports deferred to run time.

Exit status 0 on success; 1 with one line ``ctdenoise: error: ...`` on stderr for problems the user can fix;
2 for command-line usage errors (argparse, also one line); 130 when interrupted (Ctrl-C), 143 when terminated
(SIGTERM: Slicer's Cancel, job schedulers), both after removing any partly written output; 141, silently, when
the reader of stdout goes away (``ctdenoise ... --progress json | head``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import traceback

from . import __version__
from .errors import CTDenoiseError, Terminated
from .io.native_stderr import set_echo
from .progress import JsonProgress
from .vocabulary import ProgressFormat

COMMANDS = ("denoise", "simulate", "models", "demo", "evaluate", "radiomics", "radiomics_study", "quantize",
            "benchmark", "send", "battery", "detectability", "compare", "noise_spectrum")
TRAINING_PACKAGE = "CTDenoiseTrainingLib"  # optional: its commands (train, train-benchmark) appear when importable


class OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors as the one line every other error is (exit status 2 as before)."""

    def error(self, message: str):  # type: ignore[override]
        """Exit with status 2 and one line naming the problem and where help is.

        Args:
            message: argparse's message.
        """
        self.exit(2, f"ctdenoise: error: {message}. See: {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="ctdenoise", description="Low-dose CT denoising with SRResNet-3D and STResNet.")
    parser.add_argument("--version", action="version", version=f"ctdenoise {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of unexpected errors")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in command_modules():
        importlib.import_module(module).add_parser(subcommands)
    return parser


def command_modules() -> list[str]:
    """The modules of the subcommands: the engine's, then the training package's when it is installed.

    The engine never imports training code otherwise; without ``CTDenoiseTrainingLib`` the command line simply
    has no ``train`` and ``train-benchmark``.

    Returns:
        Dotted module names, each with an ``add_parser(subcommands)`` function.
    """
    modules = [f"{__package__}.commands.{name}" for name in COMMANDS]
    try:
        training = importlib.import_module(f"{TRAINING_PACKAGE}.commands")
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith(TRAINING_PACKAGE):
            raise
        return modules
    return modules + [f"{TRAINING_PACKAGE}.commands.{name}" for name in training.COMMANDS]


def _report(message: str, args: argparse.Namespace) -> None:
    # one line whatever a library put into the message (a traceback's text is cut off)
    message = " ".join(line.strip() for line in message.split("Traceback (most recent call last)")[0].splitlines()
                       if line.strip())
    print(f"ctdenoise: error: {message}", file=sys.stderr, flush=True)
    if getattr(args, "progress", None) == ProgressFormat.JSON:
        try:
            JsonProgress().failed(message)
        except BrokenPipeError:
            _stdout_to_devnull()


def _stdout_to_devnull() -> None:
    """After the reader of stdout went away: point it at /dev/null so that the exit flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    set_echo(args.debug)  # ITK's native warnings: shown with --debug only
    try:
        signal.signal(signal.SIGTERM, _terminate)  # unwinds like Ctrl-C: partial outputs are removed
    except ValueError:  # not the main thread (main() called from a thread): leave the default
        pass
    try:
        return int(args.handler(args) or 0)
    except CTDenoiseError as error:
        _report(str(error), args)
        return 1
    except Terminated:
        _report("terminated (SIGTERM); the output being written was removed.", args)
        return 143
    except KeyboardInterrupt:
        _report("interrupted.", args)
        return 130
    except BrokenPipeError:  # `... --progress json | head`: the reader has gone, nobody to tell
        _stdout_to_devnull()
        return 141
    except Exception as error:  # an engine bug or resource failure: still one clear line
        if args.debug:
            traceback.print_exc()
        kind = "out of memory" if isinstance(error, MemoryError) else type(error).__name__
        _report(f"unexpected {kind}: {error}. Rerun with --debug for the traceback and report it.", args)
        return 1
