"""Training throughput: voxels per second per rank for FP32 and for mixed precision (FP16 autocast with grad
scaling on CUDA, BF16 autocast on the CPU), on random patches, with the real optimiser step and loss.

Under torchrun every rank trains through DDP (gradients are all-reduced, as in a real run) and reports its own
throughput.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from CTDenoiseLib.models import ModelConfig, build_model

from . import distributed
from .losses import make_loss
from .optimisation import optimisation_step


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(config: ModelConfig, patch: tuple[int, int, int], batch: int, steps: int, warmup: int, precision: str,
            context: distributed.Context, loss: str = "l1") -> dict:
    torch.manual_seed(0)
    device = context.device
    model = build_model(config).to(device).train()
    network = model
    if context.distributed:
        network = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    loss_function = make_loss(loss)
    depth = patch[0] // config.z_upscale
    generator = torch.Generator().manual_seed(1)
    low = (1.0 + 0.1 * torch.randn((batch, 1, depth, *patch[1:]), generator=generator)).to(device)
    normal = (1.0 + 0.1 * torch.randn((batch, 1, *patch), generator=generator)).to(device)
    seconds = 0.0
    for step in range(warmup + steps):
        _synchronise(device)
        tick = time.perf_counter()
        value = optimisation_step(network, low, normal, loss_function, optimizer, scaler, precision, device)
        _synchronise(device)
        if step >= warmup:
            seconds += time.perf_counter() - tick
    voxels = steps * batch * float(np.prod(patch))
    return {"precision": precision, "device": str(device), "rank": context.rank, "ranks": context.world,
            "seconds_per_step": round(seconds / steps, 4), "voxels_per_second_per_rank": round(voxels / seconds),
            "loss_finite": bool(torch.isfinite(value).item())}


def run_benchmark(config: ModelConfig, patch: tuple[int, int, int], batch: int, steps: int, warmup: int,
                  device: str = "auto", precisions: tuple[str, ...] = ("fp32", "amp"), threads: int = 0) -> list[dict]:
    context = distributed.setup(device)
    try:
        if threads:
            torch.set_num_threads(threads)
        amp = "fp16" if context.device.type == "cuda" else "bf16"
        rows = []
        for precision in precisions:
            rows.append(measure(config, patch, batch, steps, warmup, amp if precision == "amp" else precision, context))
        fp32 = next((row for row in rows if row["precision"] == "fp32"), None)
        for row in rows:
            if fp32 and row is not fp32:
                speedup = row["voxels_per_second_per_rank"] / fp32["voxels_per_second_per_rank"]
                row["speedup_vs_fp32"] = round(speedup, 3)
        return rows
    finally:
        distributed.cleanup(context)
