"""ctdenoise train-benchmark: training throughput (voxels/s per rank) in FP32 and mixed precision."""

from __future__ import annotations

import argparse
import platform

from CTDenoiseLib.vocabulary import DEFAULT_ARCHITECTURE, Architecture, Device, choices

# The network and the work each step does, as data: (option, default, help).
SIZES = (("--features", 64, "default 64 (the authors' configuration)"), ("--blocks", 9, "default 9"),
         ("--z-upscale", 1, None), ("--batch", 2, None), ("--steps", 5, "timed steps per precision (default 5)"),
         ("--warmup", 2, None), ("--threads", 0, None))


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    """Register ``ctdenoise train-benchmark``.

    Args:
        subcommands: the command line's sub-command parsers.
    """
    parser = subcommands.add_parser(
        "train-benchmark", help="measure training throughput and the mixed-precision speed-up",
        description="Train a network for a few steps on random patches and print voxels per second per rank for "
                    "FP32 and for mixed precision (FP16 + grad scaling on CUDA, BF16 on the CPU). Runs under "
                    "torchrun too (DDP, one line per rank).")
    parser.add_argument("--architecture", choices=choices(Architecture), default=DEFAULT_ARCHITECTURE)
    for flag, default, help_text in SIZES:
        parser.add_argument(flag, type=int, default=default, help=help_text)
    parser.add_argument("--patch", type=int, nargs=3, default=(32, 64, 64), metavar=("Z", "Y", "X"))
    parser.add_argument("--device", choices=choices(Device), default=Device.AUTO.value)
    parser.add_argument("--precision", nargs="+", choices=("fp32", "amp", "fp16", "bf16"), default=["fp32", "amp"])
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from CTDenoiseLib.errors import CTDenoiseError
    from CTDenoiseLib.events import emit, event
    from CTDenoiseLib.models import ModelConfig
    from CTDenoiseTrainingLib.benchmark import run_benchmark

    if args.patch[0] % args.z_upscale:
        raise CTDenoiseError(f"Patch depth {args.patch[0]} is not a multiple of --z-upscale {args.z_upscale}.")
    try:
        rows = run_benchmark(ModelConfig(args.architecture, args.features, args.blocks, args.z_upscale),
                             tuple(args.patch), args.batch, args.steps, args.warmup, args.device,
                             tuple(args.precision), args.threads)
    except ValueError as error:
        raise CTDenoiseError(f"Invalid benchmark setup: {error}.") from error
    hardware = (torch.cuda.get_device_name() if rows and rows[0]["device"].startswith("cuda")
                else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    for row in rows:
        emit(event("train-benchmark", architecture=args.architecture, features=args.features, blocks=args.blocks,
                   patch=list(args.patch), batch=args.batch, **row, hardware=hardware, torch=torch.__version__))
    return 0
