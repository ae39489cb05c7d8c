"""ctdenoise quantize --model NAME --calibration CT...: make and register a model's INT8 artefact (OpenVINO IR)."""

from __future__ import annotations

import argparse

from ..events import emit, event
from ..vocabulary import DEFAULT_MODEL
from .option_types import PROGRESS, SEED, bounded


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "quantize", help="make a model's INT8 artefact for the CPU",
        description="Post-training static INT8 quantization (NNCF/OpenVINO; weights per channel) calibrated on "
                    "patches of real normal-dose CT with simulated low dose. Writes <model>.int8.xml/.bin/.json "
                    "next to the model's weights and registers them with their SHA-256. "
                    'Needs: pip install "ctdenoise[quantize]"')
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"registered model name (default: {DEFAULT_MODEL})")
    parser.add_argument("--calibration", nargs="+", required=True, metavar="VOLUME",
                        help="normal-dose CT volumes (files or DICOM folders); not the volumes you evaluate on")
    parser.add_argument("--dose", type=float, default=0.1, help="simulated dose fraction of the calibration input")
    parser.add_argument("--patches", type=int, default=128, help="calibration patches (default 128)")
    parser.add_argument("--patch", type=int, nargs=3, default=(16, 64, 64), metavar=("Z", "Y", "X"))
    parser.add_argument("--seed", type=bounded(int, SEED), default=0)
    parser.add_argument("--progress", **PROGRESS)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import CTDenoiseError
    from ..models.files import load_model
    from ..progress import make_progress
    from ..runtime.quantization import CalibrationSettings, quantize_registered

    if args.patches < 1 or min(args.patch) < 1:
        raise CTDenoiseError("--patches and --patch sizes must be positive.")
    progress = make_progress(args.progress)
    settings = CalibrationSettings(patches=args.patches, patch=tuple(args.patch), dose=args.dose, seed=args.seed)
    progress.info(f"calibrating '{args.model}' on {len(args.calibration)} volume(s), {args.patches} patches")
    summary = quantize_registered(load_model(args.model), args.calibration, settings, on_volume=progress.update)
    emit(event("quantized", **summary))
    return 0
