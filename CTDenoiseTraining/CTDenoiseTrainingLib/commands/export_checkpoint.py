"""ctdenoise export-checkpoint: register a kept checkpoint of a training run as a model (``export_checkpoint.py``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import ON_OFF_AUTO


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "export-checkpoint", help="export a kept checkpoint of a training run as a registered model",
        description="Export the checkpoint of STEP of a training run (instead of the run's best validation) with "
                    "the card the run would have written, its validation at that step, and why this step "
                    "(--reason). Choose the step on validation data only.")
    parser.add_argument("run_dir", type=Path, help="the run's --run-dir")
    parser.add_argument("--step", type=int, required=True, help="the checkpoint's step (a kept one)")
    parser.add_argument("--export-dir", type=Path, required=True, help="model folder to register it in")
    parser.add_argument("--name", help="registered name (default: the run's --name)")
    parser.add_argument("--int8", choices=ON_OFF_AUTO, default="auto",
                        help="the INT8 artefact (default auto)")
    parser.add_argument("--reason", default="", help="why this step, recorded in the card")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from CTDenoiseLib.errors import CTDenoiseError
    from CTDenoiseLib.events import emit, event

    from ..export_checkpoint import export_checkpoint

    try:
        result = export_checkpoint(args.run_dir, args.step, args.export_dir, args.name, args.int8, args.reason)
    except ValueError as error:
        raise CTDenoiseError(f"{error}.") from error
    emit(event("exported", **result))
    return 0
