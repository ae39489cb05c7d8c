"""ctdenoise train: train a network on normal-dose volumes with simulated low dose (CTDenoiseTrainingLib)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser("train", help="train a denoising network",
                                    description="Train on normal-dose volumes with low dose simulated on the fly. "
                                                "Options override the --config file.")
    parser.add_argument("--config", type=Path, help="JSON configuration file (keys as the options, underscores)")
    parser.add_argument("--name")
    parser.add_argument("--architecture", choices=("srresnet", "stresnet"))
    parser.add_argument("--features", type=int)
    parser.add_argument("--blocks", type=int)
    parser.add_argument("--train", nargs="+", metavar="VOLUME", help="normal-dose training volumes")
    parser.add_argument("--validation", nargs="+", metavar="VOLUME", help="held-out normal-dose volumes")
    parser.add_argument("--dose", type=float)
    parser.add_argument("--realisations", type=int, help="simulated low-dose realisations per training volume")
    parser.add_argument("--patch", type=int, nargs=3, metavar=("Z", "Y", "X"))
    parser.add_argument("--batch", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--loss", choices=("l1", "mse"))
    parser.add_argument("--validate-every", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--run-dir")
    parser.add_argument("--export-dir", help="model folder to export the best checkpoint to and register it in")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import CTDenoiseError

    try:
        from CTDenoiseTrainingLib.config import TrainConfig
        from CTDenoiseTrainingLib.train import train
    except ImportError as error:
        raise CTDenoiseError(f"The training engine is not importable ({error}).",
                             "Install CTDenoise from the repository root with pip, which includes CTDenoiseTrainingLib.") from error
    values = json.loads(args.config.read_text(encoding="utf-8")) if args.config else {}
    overrides = {key: value for key, value in vars(args).items()
                 if key not in ("config", "handler", "command", "debug") and value is not None}
    try:
        config = TrainConfig.from_dict({**values, **overrides})
        result = train(config, command="ctdenoise " + shlex.join(sys.argv[1:]))
    except ValueError as error:
        raise CTDenoiseError(f"Invalid training setup: {error}.") from error
    print(json.dumps({"event": "trained", **{key: result[key] for key in ("best", "halo", "seconds")}}))
    return 0
