"""Intermediate features of a network by module name (``head``, ``blocks``, ``blocks.0``, ``body``), read with
forward hooks so the network's own forward (and DistributedDataParallel around it) runs unchanged."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn


def check_layers(model: nn.Module, layers: list[str]) -> None:
    """Refuse layer names the network does not have, listing those it has.

    Args:
        model: the network whose ``named_modules`` the names refer to.
        layers: the requested module names.
    """
    names = dict(model.named_modules())
    unknown = [layer for layer in layers if layer not in names or layer == ""]
    if unknown:
        usable = [name for name in names if name and name.count(".") <= 1][:12]
        raise ValueError(f"consistency_layers {unknown} are not modules of the network; use names such as "
                         f"{', '.join(usable)}")


@contextlib.contextmanager
def tapped(model: nn.Module, layers: list[str]) -> Iterator[dict[str, torch.Tensor]]:
    """While open, every forward of ``model`` stores the outputs of the named modules in the yielded dict.

    Args:
        model: the (inner, not DDP-wrapped) network.
        layers: module names, as in ``model.named_modules()``.
    """
    modules = dict(model.named_modules())
    found: dict[str, torch.Tensor] = {}
    handles = [modules[name].register_forward_hook(
        lambda _module, _inputs, output, name=name: found.__setitem__(name, output)) for name in layers]
    try:
        yield found
    finally:
        for handle in handles:
            handle.remove()
