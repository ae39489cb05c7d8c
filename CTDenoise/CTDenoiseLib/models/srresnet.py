"""SRResNet-3D: the baseline, with full 3x3x3 convolutions everywhere."""

from __future__ import annotations

from torch import nn

from .residual_denoiser import ResidualDenoiser


def full_conv(features: int) -> nn.Module:
    return nn.Conv3d(features, features, kernel_size=3, padding=1)


class SRResNet3D(ResidualDenoiser):
    def __init__(self, features: int, blocks: int, z_upscale: int = 1, noise_input: bool = False) -> None:
        super().__init__(full_conv, features, blocks, z_upscale, noise_input)
