"""Data parallelism by hand for the recipes whose networks run several times per step (a GAN's generators and
discriminators, the teacher), where DistributedDataParallel's one-forward-one-backward contract does not hold:
parameters are broadcast from rank 0 once, and gradients are averaged over ranks (one flat all-reduce) before
every optimizer step. With one process both are no-ops."""

from __future__ import annotations

from typing import Iterable

import torch
import torch.distributed as dist

from ..distributed import Context


def broadcast_parameters(context: Context, modules: Iterable[torch.nn.Module]) -> None:
    """Give every rank rank 0's parameters and buffers.

    Args:
        context: the distributed context.
        modules: the networks to synchronise.
    """
    if not context.distributed:
        return
    with torch.no_grad():
        for module in modules:
            for tensor in [*module.parameters(), *module.buffers()]:
                dist.broadcast(tensor.data, src=0)


def average_gradients(context: Context, parameters: Iterable[torch.nn.Parameter]) -> None:
    """Replace each gradient by its mean over ranks; parameters without a gradient are left out on every rank
    alike (they take part in no step).

    Args:
        context: the distributed context.
        parameters: the parameters about to be stepped.
    """
    if not context.distributed:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([grad.reshape(-1) for grad in grads])
    dist.all_reduce(flat)
    flat /= context.world
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset:offset + grad.numel()].view_as(grad))
        offset += grad.numel()


def check_in_sync(context: Context, modules: Iterable[torch.nn.Module], what: str) -> None:
    """Fail loudly when the ranks' parameters differ (a missed gradient average would train N different models
    while rank 0 saved only its own).

    Args:
        context: the distributed context.
        modules: the networks that must be identical on every rank.
        what: how the error names them.
    """
    if not context.distributed:
        return
    with torch.no_grad():
        total = sum(float(p.double().sum()) + float(p.double().abs().sum()) for m in modules for p in m.parameters())
    values = torch.tensor([total, -total], dtype=torch.float64)
    dist.all_reduce(values, op=dist.ReduceOp.MAX)
    if float(values[0]) != -float(values[1]):
        raise RuntimeError(f"the ranks' {what} are out of sync (parameter checksums differ)")
