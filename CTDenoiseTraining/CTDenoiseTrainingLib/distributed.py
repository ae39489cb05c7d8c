"""Distributed data parallel through torchrun: gloo on CPU, NCCL on CUDA; a single process needs nothing.

``torchrun --nproc_per_node N -m CTDenoiseLib train ...`` sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous;
this module joins the process group, picks the rank's device, and offers the few collectives the loop needs.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str = ""

    @property
    def main(self) -> bool:
        """Whether this is rank 0 (the one that writes files and logs)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether the run has more than one rank."""
        return self.world > 1


def choose_device(requested: str, local_rank: int = 0) -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was requested but this PyTorch has no usable CUDA GPU")
    if requested in ("cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def setup(requested_device: str = "auto") -> Context:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = choose_device(requested_device, local_rank)
    if world <= 1:
        return Context(device=device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
    return Context(rank=rank, world=world, local_rank=local_rank, device=device, backend=backend)


def cleanup(context: Context) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: Context) -> None:
    if context.distributed:
        dist.barrier()


def all_sum(context: Context, values: list[float]) -> list[float]:
    """Element-wise sum over ranks (float64)."""
    if not context.distributed:
        return list(values)
    device = context.device if context.backend == "nccl" else torch.device("cpu")
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.cpu().tolist()


def all_min(context: Context, value: float) -> float:
    """Minimum of one value over ranks (a rank with nothing to report passes +inf)."""
    if not context.distributed:
        return value
    device = context.device if context.backend == "nccl" else torch.device("cpu")
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return float(tensor.cpu()[0])
