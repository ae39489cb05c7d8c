"""ctdenoise train: train a network on a site's scans (CTDenoiseTrainingLib); see docs/training.md.

Every configuration key is an option (dashes for underscores), made from the ``TrainConfig`` fields
(config_options.py), and overrides the --config file (JSON or YAML).
Run it under ``torchrun --nproc_per_node N -m CTDenoiseLib train ...`` for distributed data parallel training.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from CTDenoiseLib.events import emit, event

from ..config import TrainConfig, read_config_file
from ..config_options import add_config_arguments


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser("train", help="train a denoising network",
                                    description="Train on normal-dose volumes with low dose simulated (or on real "
                                                "low-dose/normal-dose pairs). Options override the --config file.")
    parser.add_argument("--config", type=Path,
                        help="JSON or YAML configuration file (keys as the options, underscores)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --run-dir from its latest checkpoint (exactly: same weights as an "
                             "uninterrupted run)")
    parser.add_argument("--stop-after", type=int, metavar="STEP",
                        help="checkpoint after this step and exit without exporting (batch jobs with a time limit); "
                             "continue later with --resume")
    add_config_arguments(parser, TrainConfig)
    parser.set_defaults(handler=run)


NOT_CONFIG = ("config", "resume", "stop_after", "handler", "command", "debug")


def run(args: argparse.Namespace) -> int:
    from CTDenoiseLib.errors import CTDenoiseError

    try:
        from CTDenoiseTrainingLib.train import train
    except ImportError as error:
        raise CTDenoiseError(f"The training engine is not importable ({error}).",
                             "Install CTDenoise from the repository root with pip, which includes "
                             "CTDenoiseTrainingLib.") from error
    overrides = {key: value for key, value in vars(args).items() if key not in NOT_CONFIG and value is not None}
    try:
        values = read_config_file(args.config) if args.config else {}
        config = TrainConfig.from_dict({**values, **overrides})
        result = train(config, command="ctdenoise " + shlex.join(sys.argv[1:]), resume=args.resume,
                       stop_after=args.stop_after)
    except (ValueError, OSError) as error:
        raise CTDenoiseError(f"Invalid training setup: {error}.") from error
    if "stopped_at" in result:
        emit(event("stopped", step=result["stopped_at"], seconds=result["seconds"]))
    elif "halo" in result:  # rank 0
        emit(event("trained", **{key: result[key] for key in ("best", "halo", "seconds", "last_step")},
                   **({"exported": result["exported"]} if "exported" in result else {})))
    return 0
