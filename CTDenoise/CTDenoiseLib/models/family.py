"""What a network family declares beyond ``forward``, checked when it is registered (``models.ARCHITECTURES``).

The engine and training read these members by name; a family that lacks one fails at import with a line saying
which, instead of breaking INT8 export, teacher training or growing later and silently:

- ``fp32_modules``: the modules INT8 keeps in FP32 (``runtime.quantization``: the single-channel input and output
  convolutions, whose 256 levels over the HU range would cost more than their INT8 work saves);
- ``features(x)`` and ``tail``: the features the output convolution reads, and that convolution (the
  teacher-student recipe's teacher reconstructs ``tail(features(x))`` without the input skip);
- ``blocks``: the residual blocks, named ``blocks.N.``, each with a ``conv2`` whose last convolution a new block
  starts at zero (growing a network deeper computes what it computed), and ``grows_from``: other families a
  network of this one can grow from;
- ``spatial_multiple``: what the in-plane sides of a tile must divide by (the engine pads tiles for runners that
  cannot pad), and ``receptive_field_radius()``: the voxels (z, y, x) on each side of an output voxel that reach
  it (the tile halo);
- ``input_channels`` (1, or 2 with the noise level) and ``z_upscale``: what the runners and tiling feed and expect.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

FAMILY_MEMBERS = ("fp32_modules", "grows_from", "spatial_multiple", "input_channels", "z_upscale", "head", "blocks",
                  "tail", "features", "trunk", "receptive_field_radius")


@runtime_checkable
class DenoiserFamily(Protocol):
    """A network family as the engine and training use it (``ResidualDenoiser`` and its subclasses answer it).

    Attributes:
        fp32_modules: names of the modules INT8 keeps in FP32.
        grows_from: architectures whose trained networks grow into this one computing what they computed.
        spatial_multiple: what a tile's in-plane sides must divide by (1: any).
        input_channels: 1, or 2 for a noise-conditioned network (image, noise level).
        z_upscale: output slices per input slice.
        head: the input convolution.
        blocks: the residual blocks (each with a ``conv2``).
        tail: the output convolution.
    """

    fp32_modules: tuple[str, ...]
    grows_from: tuple[str, ...]
    spatial_multiple: int
    input_channels: int
    z_upscale: int
    head: nn.Module
    blocks: nn.Sequential
    tail: nn.Module

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The features ``tail`` reads.

        Args:
            x: normalised volumes (N, input_channels, Z, Y, X).
        """

    def trunk(self, features: torch.Tensor) -> torch.Tensor:
        """What lies between the head and the body convolution (the residual blocks, and any branch).

        Args:
            features: the head's output.
        """

    def receptive_field_radius(self) -> tuple[int, int, int]:
        """Voxels (z, y, x) on each side of an output voxel that can influence it."""


def family_problems(family: type[nn.Module]) -> list[str]:
    """The members of ``DenoiserFamily`` a network class lacks (empty when it has them all), looked up on a
    network of one block built on the meta device (no memory, no random numbers drawn).

    Args:
        family: the network class; built as ``family(features=..., blocks=..., z_upscale=1, noise_input=False)``.
    """
    with torch.device("meta"):
        network = family(features=4, blocks=1, z_upscale=1, noise_input=False)
    missing = [name for name in FAMILY_MEMBERS if not hasattr(network, name)]
    if "blocks" not in missing and not all(hasattr(block, "conv2") for block in network.blocks):
        missing.append("blocks[i].conv2")
    if "fp32_modules" not in missing:
        missing += [f"fp32_modules: {name}" for name in network.fp32_modules if not hasattr(network, name)]
    return missing


def register_families(families: dict[str, type[nn.Module]], names: tuple[str, ...]) -> dict[str, type[nn.Module]]:
    """The architecture table, after checking each family declares every ``DenoiserFamily`` member and that the
    table names exactly the architectures of the vocabulary.

    Args:
        families: architecture name -> network class.
        names: the architecture names the vocabulary lists (``vocabulary.Architecture``).

    Raises:
        TypeError: a family lacks a member (the message names the family and the members), or the names differ.
    """
    if tuple(families) != tuple(names):
        raise TypeError(f"the registered families {tuple(families)} are not the vocabulary's architectures {names}: "
                        "add the name to vocabulary.Architecture")
    for name, family in families.items():
        missing = family_problems(family)
        if missing:
            raise TypeError(f"network family '{name}' ({family.__name__}) lacks {', '.join(missing)}: INT8 export, "
                            "teacher training and growing need them (see models/family.py)")
    return dict(families)
