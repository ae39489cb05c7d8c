"""What every recipe's step shares: the process's threads and seed, mixed precision (autocast and the gradient
scaler), and the update that ends each optimisation step."""

from __future__ import annotations

import contextlib
import os
from typing import Callable

import torch

from . import distributed
from .config import TrainConfig


def resolve_amp(mode: str, device: torch.device) -> str:
    """FP16 autocast + grad scaling on CUDA; on the CPU BF16 only on request: measured 0.8x of FP32 (slower) on
    an AVX512-BF16 EPYC (``ctdenoise train-benchmark`` measures it on yours).

    Args:
        mode: the configuration's ``amp``: ``auto``, ``off``, ``fp16`` or ``bf16``.
        device: where the run trains.

    Returns:
        The mode that runs: ``off``, ``fp16`` or ``bf16``.
    """
    if device.type == "cuda":
        return "fp16" if mode == "auto" else mode
    if mode == "fp16":
        raise ValueError("amp fp16 needs a CUDA GPU; on the CPU use amp bf16 (measure it first with "
                         "`ctdenoise train-benchmark`) or off")
    return "off" if mode == "auto" else mode


def autocast(amp: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context of ``amp`` (``off`` or ``fp32``: none).

    Args:
        amp: a resolved mode (``resolve_amp``).
        device: where the forward pass runs.
    """
    if amp in ("off", "fp32"):
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype={"fp16": torch.float16, "bf16": torch.bfloat16}[amp])


def descend(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
            after_backward: Callable[[], None] | None = None) -> None:
    """One gradient update from ``loss``: clear the gradients, back-propagate the (scaled) loss, step, update the
    scale.

    Args:
        loss: what to minimise.
        optimizer: the optimiser of the parameters that ``loss`` reaches.
        scaler: the gradient scaler (enabled with FP16 autocast).
        after_backward: run between backward and step (gradients averaged over ranks by hand).
    """
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if after_backward is not None:
        after_backward()
    scaler.step(optimizer)
    scaler.update()


def optimisation_step(network: torch.nn.Module, low: torch.Tensor, normal: torch.Tensor, loss_function: Callable,
                      optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, amp: str,
                      device: torch.device) -> torch.Tensor:
    """One step of the plain recipe, as run by the loop and timed by the benchmark; returns the loss.

    Args:
        network: the network (DDP-wrapped under torchrun).
        low: the input patches (normalised).
        normal: the target patches (normalised).
        loss_function: the pixel loss (``losses.make_loss``).
        optimizer: the network's optimiser.
        scaler: the gradient scaler.
        amp: the resolved mixed-precision mode.
        device: where the network runs.
    """
    with autocast(amp, device):
        prediction = network(low)
    loss = loss_function(prediction, normal)
    descend(loss, optimizer, scaler)
    return loss


def prepare_process(config: TrainConfig, context: distributed.Context) -> str:
    """Threads per rank, the seed and the mixed-precision mode every run starts with; returns the amp.

    Args:
        config: the run's configuration (``threads``, ``seed``, ``amp``).
        context: the distributed context (CPU ranks share the cores).
    """
    if config.threads:
        torch.set_num_threads(config.threads)
    elif context.distributed and context.device.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // context.world))
    torch.manual_seed(config.seed)
    return resolve_amp(config.amp, context.device)
