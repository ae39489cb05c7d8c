"""`ctdenoise` command line: one module per subcommand in ``commands/``, heavy imports deferred to run time.

Exit status 0 on success; 1 with one line ``ctdenoise: error: ...`` on stderr for problems the user can fix;
2 for command-line usage errors (argparse); 130 when interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from . import __version__
from .errors import CTDenoiseError
from .progress import JsonProgress

COMMANDS = ("denoise", "simulate", "models", "train", "demo", "evaluate", "radiomics", "radiomics_study", "quantize", "benchmark", "train_benchmark", "send")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ctdenoise", description="Low-dose CT denoising with SRResNet-3D and STResNet.")
    parser.add_argument("--version", action="version", version=f"ctdenoise {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of unexpected errors")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__package__}.commands.{name}").add_parser(subcommands)
    return parser


def _report(message: str, args: argparse.Namespace) -> None:
    print(f"ctdenoise: error: {message}", file=sys.stderr, flush=True)
    if getattr(args, "progress", None) == "json":
        JsonProgress().failed(message)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except CTDenoiseError as error:
        _report(str(error), args)
        return 1
    except KeyboardInterrupt:
        _report("interrupted.", args)
        return 130
    except Exception as error:  # an engine bug or resource failure: still one clear line
        if args.debug:
            traceback.print_exc()
        kind = "out of memory" if isinstance(error, MemoryError) else type(error).__name__
        _report(f"unexpected {kind}: {error}. Rerun with --debug for the traceback and report it.", args)
        return 1
