"""Start a wider and deeper network as a smaller trained one computes (function-preserving growth, Net2Net-style:
Chen et al. 2016; new residual blocks as the identity, as in EDSR-style deepening).

Training a bigger network from the identity costs CPU hours on 2 cores before it even reaches the quality of the
shipped one. Grown from the shipped weights it starts there and spends its steps on what the extra capacity adds.

How the copy keeps the output unchanged, for a network of a registered family (``models.DenoiserFamily``: its
residual ``blocks`` named ``blocks.N.``, each with a ``conv2``; ``grows_from`` names the other families it grows
from):
- every convolution's old weights go to its first output channels and first input channels;
- weights that *read* a new channel are zero, so the new channels (whatever they compute) do not reach the old
  ones nor the output; the new channels' own weights keep the target's random start, so they carry signal and
  get gradients (a unit with zero input and zero output weights would never leave zero);
- in each new residual block the last convolution of its second conv starts at zero, so the block adds nothing;
  the convolutions before it keep their random start for the same reason.
The same rule makes a blind network's head read the added noise-level channel with zero weights.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from CTDenoiseLib.models import ARCHITECTURES, ModelConfig

BLOCK_KEY = re.compile(r"blocks\.(\d+)\.")


def can_grow(source: ModelConfig, target: ModelConfig) -> bool:
    """Whether ``grow_into`` can start ``target`` as ``source``: the same family (or one whose ``grows_from`` names
    the source's: its extra modules start silent) and through-plane factor (1: the upsampling's channel layout
    depends on the width), no fewer features or blocks, any noise-level input.

    Args:
        source: the trained network's configuration.
        target: the configuration of the network to start.
    """
    family = ARCHITECTURES.get(target.architecture)
    related = source.architecture == target.architecture or (family is not None
                                                             and source.architecture in family.grows_from)
    if not related or source.z_upscale != target.z_upscale:
        return False
    if source.z_upscale > 1:
        return (source.features, source.blocks) == (target.features, target.blocks)
    return target.features >= source.features and target.blocks >= source.blocks


def grow_into(model: nn.Module, source_state: dict[str, torch.Tensor]) -> None:
    """Load ``source_state`` (a smaller or equal network of the same family) into ``model`` so that ``model``
    computes what the source computes, on the source's input channels.

    Args:
        model: the target network (its random initial weights are kept where the rule above allows).
        source_state: the source network's ``state_dict``.
    """
    state = model.state_dict()
    missing = [key for key in source_state if key not in state]
    if missing:
        raise ValueError(f"the source network has weights the target lacks ({missing[0]}, ...): not the same family")
    grown = {}
    for key, start in state.items():
        if key not in source_state:
            grown[key] = start
            continue
        old = source_state[key].to(start.device, start.dtype)
        value = start.clone()
        value[tuple(slice(0, size) for size in old.shape[:2])] = old
        if value.ndim > 1:
            value[:, old.shape[1]:] = 0  # weights reading a new channel
        grown[key] = value
    model.load_state_dict(grown)
    source_blocks = {int(match.group(1)) for key in source_state if (match := BLOCK_KEY.match(key))}
    with torch.no_grad():
        for index, block in enumerate(model.blocks):
            if index not in source_blocks:
                last = [module for module in block.conv2.modules() if isinstance(module, nn.Conv3d)][-1]
                nn.init.zeros_(last.weight)
                nn.init.zeros_(last.bias)
