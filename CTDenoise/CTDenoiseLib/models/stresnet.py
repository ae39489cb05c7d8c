"""STResNet: every feature-to-feature 3x3x3 convolution factorised into spatial 1x3x3 then temporal 3x1x1.

The factorisation cuts the multiply-adds of such a convolution from 27 F^2 to 12 F^2 per voxel while keeping
the 3x3x3 receptive field. The head (1 -> F) and output (F -> 1) convolutions stay 3x3x3: they are cheap.
"""

from __future__ import annotations

from torch import nn

from .residual_denoiser import ResidualDenoiser


class SpatioTemporalConv(nn.Sequential):
    def __init__(self, features: int) -> None:
        super().__init__(
            nn.Conv3d(features, features, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            nn.Conv3d(features, features, kernel_size=(3, 1, 1), padding=(1, 0, 0)),
        )


class STResNet(ResidualDenoiser):
    def __init__(self, features: int, blocks: int, z_upscale: int = 1, noise_input: bool = False) -> None:
        super().__init__(SpatioTemporalConv, features, blocks, z_upscale, noise_input)
