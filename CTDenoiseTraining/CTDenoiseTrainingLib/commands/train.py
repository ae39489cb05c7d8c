"""ctdenoise train: train a network on a site's scans (CTDenoiseTrainingLib); see docs/training.md.

Every configuration key is an option (dashes for underscores) and overrides the --config file (JSON or YAML).
Run it under ``torchrun --nproc_per_node N -m CTDenoiseLib train ...`` for distributed data parallel training.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from CTDenoiseLib.simulation.kernels import KERNELS
from CTDenoiseLib.vocabulary import Device, choices

from .train_recipes import add_recipe_arguments


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
    model = parser.add_argument_group("model")
    model.add_argument("--name")
    model.add_argument("--architecture", choices=("srresnet", "stresnet"))
    model.add_argument("--features", type=int)
    model.add_argument("--blocks", type=int)
    model.add_argument("--z-upscale", type=int, help="output slices per input slice (2: 2 mm low dose -> 1 mm)")
    model.add_argument("--noise-input", action=argparse.BooleanOptionalAction, default=None,
                       help="give the network the input's estimated noise level as a second channel (FFDNet-style); "
                            "--init-from a blind model of the same size starts it as that model")
    model.add_argument("--noise-level-jitter", type=float,
                       help="relative error drawn into the training noise level, as the estimator makes (default 0.15)")
    model.add_argument("--init-from", metavar="MODEL",
                       help="fine-tune a registered model (see `ctdenoise models`; checksum verified) instead of "
                            "starting from the identity; it must have this architecture, size and HU normalisation")
    data = parser.add_argument_group("data")
    data.add_argument("--train", nargs="+", metavar="VOLUME", help="normal-dose training volumes")
    data.add_argument("--validation", nargs="+", metavar="VOLUME", help="held-out normal-dose volumes")
    data.add_argument("--data-dir", help="folder of normal-dose volumes or DICOM series folders, one case each")
    data.add_argument("--low-dose-dir", help="folder of real low-dose scans named like those in --data-dir")
    data.add_argument("--pairs-csv", help="CSV with columns normal[, low][, patient][, split]")
    data.add_argument("--patient-pattern", help="regex whose first group is the patient id in a case name")
    data.add_argument("--validation-fraction", type=float, help="fraction of patients held out (default 0.2)")
    data.add_argument("--cache-dir", help="prepared arrays and simulations (default: RUN_DIR/../simulation-cache)")
    data.add_argument("--dose", type=float)
    data.add_argument("--photons", type=float)
    data.add_argument("--electronic-noise", type=float)
    data.add_argument("--realisations", type=int, help="simulated low-dose realisations per training volume")
    data.add_argument("--noise-scale", type=float, nargs=2, metavar=("LOW", "HIGH"),
                      help="scale each patch's simulated noise by a log-uniform factor in this range (default 1 1)")
    data.add_argument("--kernels", nargs="+", choices=KERNELS,
                      help="reconstruction kernels of the simulated noise; realisations cycle through them "
                           "(default hann)")
    data.add_argument("--exposure-control", nargs="+", type=_on_off, metavar="on|off",
                      help="simulate with and/or without tube-current modulation; realisations cycle (default on)")
    data.add_argument("--slice-averaging", type=int, nargs=2, metavar=("LOW", "HIGH"),
                      help="average k adjacent slices per patch, k uniform in this range (default 1 1)")
    data.add_argument("--pixel-zoom", type=float, nargs=2, metavar=("LOW", "HIGH"),
                      help="resample each patch in-plane by a log-uniform factor in this range (default 1 1)")
    data.add_argument("--validation-noise-scales", type=float, nargs="+", metavar="SCALE",
                      help="validate at each of these noise scales and choose checkpoints on the mean (default 1)")
    optimisation = parser.add_argument_group("optimisation")
    optimisation.add_argument("--patch", type=int, nargs=3, metavar=("Z", "Y", "X"), help="target patch size")
    optimisation.add_argument("--batch", type=int, help="patches per step and rank")
    optimisation.add_argument("--steps", type=int)
    optimisation.add_argument("--learning-rate", type=float)
    optimisation.add_argument("--loss", help="l1, mse, ssim, perceptual, or a sum such as l1+0.2*ssim")
    optimisation.add_argument("--perceptual-weights", help="VGG-16 ImageNet weights file for the perceptual loss")
    optimisation.add_argument("--amp", choices=("auto", "off", "fp16", "bf16"),
                              help="mixed precision (auto: FP16 on CUDA, off on CPU)")
    optimisation.add_argument("--device", choices=choices(Device))
    run_group = parser.add_argument_group("run")
    run_group.add_argument("--validate-every", type=int)
    run_group.add_argument("--checkpoint-every", type=int)
    run_group.add_argument("--keep-checkpoints", type=int)
    run_group.add_argument("--early-stopping", type=int, metavar="VALIDATIONS",
                           help="stop after this many validations without a better PSNR")
    run_group.add_argument("--workers", type=int, help="DataLoader workers per rank (-1: from the CPU cores)")
    run_group.add_argument("--tensorboard", choices=("auto", "on", "off"))
    run_group.add_argument("--seed", type=int)
    run_group.add_argument("--threads", type=int)
    run_group.add_argument("--run-dir")
    run_group.add_argument("--export-dir", help="model folder to export the best checkpoint to and register it in")
    run_group.add_argument("--int8", choices=("auto", "on", "off"),
                           help="make the INT8 artefact at export (auto: when OpenVINO and NNCF are installed)")
    add_recipe_arguments(parser)
    parser.set_defaults(handler=run)


def _on_off(text: str) -> bool:
    if text.lower() not in ("on", "off", "true", "false"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")
    return text.lower() in ("on", "true")


NOT_CONFIG = ("config", "resume", "stop_after", "handler", "command", "debug")


def run(args: argparse.Namespace) -> int:
    from CTDenoiseLib.errors import CTDenoiseError

    try:
        from CTDenoiseTrainingLib.config import TrainConfig, read_config_file
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
        print(json.dumps({"event": "stopped", "step": result["stopped_at"], "seconds": result["seconds"]}))
    elif "halo" in result:  # rank 0
        print(json.dumps({"event": "trained", **{key: result[key] for key in ("best", "halo", "seconds", "last_step")},
                          **({"exported": result["exported"]} if "exported" in result else {})}))
    return 0
