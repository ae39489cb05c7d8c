"""ctdenoise train-benchmark: training throughput (voxels/s per rank) in FP32 and mixed precision."""

from __future__ import annotations

import argparse
import json
import platform

from CTDenoiseLib.vocabulary import Device, choices


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "train-benchmark", help="measure training throughput and the mixed-precision speed-up",
        description="Train a network for a few steps on random patches and print voxels per second per rank for "
                    "FP32 and for mixed precision (FP16 + grad scaling on CUDA, BF16 on the CPU). Runs under "
                    "torchrun too (DDP, one line per rank).")
    parser.add_argument("--architecture", choices=("srresnet", "stresnet"), default="stresnet")
    parser.add_argument("--features", type=int, default=64, help="default 64 (the authors' configuration)")
    parser.add_argument("--blocks", type=int, default=9, help="default 9")
    parser.add_argument("--z-upscale", type=int, default=1)
    parser.add_argument("--patch", type=int, nargs=3, default=(32, 64, 64), metavar=("Z", "Y", "X"))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per precision (default 5)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", choices=choices(Device), default=Device.AUTO.value)
    parser.add_argument("--precision", nargs="+", choices=("fp32", "amp", "fp16", "bf16"), default=["fp32", "amp"])
    parser.add_argument("--threads", type=int, default=0)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from CTDenoiseLib.errors import CTDenoiseError
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
        print(json.dumps({"event": "train-benchmark", "architecture": args.architecture, "features": args.features,
                          "blocks": args.blocks, "patch": list(args.patch), "batch": args.batch, **row,
                          "hardware": hardware, "torch": torch.__version__}), flush=True)
    return 0
