"""STUNet: STResNet's full-resolution trunk plus an in-plane multi-scale (U-Net) branch.

A 16x4 STResNet sees 11 voxels; soft-kernel CT noise is correlated over several pixels and its structures (and
non-local means' 13x13 search window) reach further. STUNet keeps STResNet's trunk (head, factorised 1x3x3 +
3x1x1 residual blocks, body, tail: the same parameter names) and adds, after the first half of the blocks, a
branch that works at 1/2 and 1/4 of the in-plane resolution: strided 1x2x2 downsampling, in-plane 1x3x3 residual
blocks at F and 2F features, transposed 1x2x2 upsampling with a skip connection, and a 1x2x2 transposed
convolution back to F features whose result is added to the trunk. At quarter resolution a 3x3 convolution costs
1/16 of the voxels, so the in-plane receptive field grows about fourfold for well under twice the multiply-adds.

The branch is in-plane only: it leaves the through-plane receptive field (and so the z halo of tiling) that of the
trunk. Its last convolution starts at zero, so a new STUNet computes what its trunk computes: grown from a trained
STResNet (``--init-from``) it starts exactly at that network's quality.

Tiles whose in-plane sides are not multiples of ``spatial_multiple`` (4) are padded (edge values) and cropped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..vocabulary import Architecture
from .residual_denoiser import ResidualDenoiser
from .stresnet import SpatioTemporalConv

DOWN = (1, 2, 2)


def in_plane_conv(features: int) -> nn.Conv3d:
    return nn.Conv3d(features, features, kernel_size=(1, 3, 3), padding=(0, 1, 1))


class InPlaneBlock(nn.Module):
    """Residual block of two in-plane 1x3x3 convolutions: ``x + conv2(relu(conv1(x)))``."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = in_plane_conv(features)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = in_plane_conv(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output.

        Args:
            x: features (N, F, Z, Y, X).
        """
        return x + self.conv2(self.relu(self.conv1(x)))


class CoarseBranch(nn.Module):
    """The two-level in-plane U-Net added to the trunk; returns a correction of the trunk's features.

    Args:
        features: the trunk's width F; the half- and quarter-resolution levels have ``widths`` times F features.
        middle_blocks: residual blocks at quarter resolution.
        widths: features of the two levels, as multiples of F (rounded down).
    """

    def __init__(self, features: int, middle_blocks: int = 2, widths: tuple[float, float] = (1.0, 2.0)) -> None:
        super().__init__()
        half, quarter = int(widths[0] * features), int(widths[1] * features)
        self.down1 = nn.Conv3d(features, half, kernel_size=DOWN, stride=DOWN)
        self.encode1 = InPlaneBlock(half)
        self.down2 = nn.Conv3d(half, quarter, kernel_size=DOWN, stride=DOWN)
        self.middle = nn.Sequential(*[InPlaneBlock(quarter) for _ in range(middle_blocks)])
        self.up2 = nn.ConvTranspose3d(quarter, half, kernel_size=DOWN, stride=DOWN)
        self.decode1 = InPlaneBlock(half)
        self.up1 = nn.ConvTranspose3d(half, features, kernel_size=DOWN, stride=DOWN)
        nn.init.zeros_(self.up1.weight)  # the branch starts silent: the network computes its trunk
        nn.init.zeros_(self.up1.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The branch's correction of the trunk's features (same shape).

        Args:
            x: the trunk's features (N, F, Z, Y, X), in-plane sides multiples of 4.
        """
        half = self.encode1(self.down1(x))
        quarter = self.middle(self.down2(half))
        return self.up1(self.decode1(half + self.up2(quarter)))


class STUNet(ResidualDenoiser):
    """STResNet trunk of ``blocks`` factorised blocks at ``features`` features, with a ``CoarseBranch`` after the
    first ``blocks // 2`` blocks. Same input/output contract as the other families (``ResidualDenoiser``)."""

    spatial_multiple = 4  # in-plane sides must divide by 4 (two 2x downsamplings); forward pads otherwise
    # its trunk is an STResNet's: a trained STResNet grows into it computing what it computed
    grows_from = (Architecture.STRESNET.value,)

    def __init__(self, features: int, blocks: int, z_upscale: int = 1, noise_input: bool = False) -> None:
        if z_upscale != 1:
            raise ValueError("STUNet denoises on the input grid (z_upscale 1)")
        super().__init__(SpatioTemporalConv, features, blocks, z_upscale, noise_input)
        self.split = blocks // 2
        self.coarse = CoarseBranch(features)

    def trunk(self, features: torch.Tensor) -> torch.Tensor:
        """The first half of the blocks, the coarse branch's correction added, then the second half.

        Args:
            features: the head's output.
        """
        features = self.blocks[: self.split](features)
        features = features + self.coarse(features)
        return self.blocks[self.split:](features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The denoised volumes; in-plane sides that are not multiples of ``spatial_multiple`` are padded
        (edge values) and the output cropped back.

        Args:
            x: normalised volumes (N, input channels, Z, Y, X).
        """
        height, width = x.shape[-2:]
        pad_y, pad_x = -height % self.spatial_multiple, -width % self.spatial_multiple
        if pad_y or pad_x:  # eager only: the engine's runners are given padded tiles (inference.tiled)
            x = F.pad(x, (0, pad_x, 0, pad_y, 0, 0), mode="replicate")
            return super().forward(x)[..., :height, :width]
        return super().forward(x)

    def receptive_field_radius(self) -> tuple[int, int, int]:
        """Voxels (z, y, x) on each side of an output voxel that can influence it: the trunk's chain plus the
        branch's in-plane reach (each convolution at level l adds its radius times 2**l input pixels; in-plane an
        upper bound by a few pixels, as each 2x2 down- or upsampling reaches one side only)."""
        trunk = [conv for name, conv in self.named_modules()
                 if isinstance(conv, nn.Conv3d) and not name.startswith("coarse")]
        radius = [sum((conv.kernel_size[axis] - 1) // 2 for conv in trunk) for axis in range(3)]
        branch = self.coarse
        reach = 1 + 2 * 2 * 1  # down1 (1 px), encode1's two convs at level 1
        reach += 2 + 4 * 2 * len(branch.middle)  # down2 (2 px), the middle blocks' convs at level 2
        reach += 2 + 2 * 2 * 1 + 1  # up2, decode1's two convs at level 1, up1
        return radius[0], radius[1] + reach, radius[2] + reach
