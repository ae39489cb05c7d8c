"""The EDSR-style residual topology shared by both network families.

head conv -> N residual blocks [conv, ReLU, conv] + identity -> body conv + long skip -> output conv,
and the whole network predicts a correction added to its input (residual learning). The families differ
only in the convolution that the blocks and the body conv use, passed in as ``make_conv``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

ConvFactory = Callable[[int], nn.Module]


class ResidualBlock(nn.Module):
    def __init__(self, make_conv: ConvFactory, features: int) -> None:
        super().__init__()
        self.conv1 = make_conv(features)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = make_conv(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


class ResidualDenoiser(nn.Module):
    """Maps a normalised CT volume ``(N, 1, Z, Y, X)`` to its denoised version of the same shape."""

    def __init__(self, make_conv: ConvFactory, features: int, blocks: int) -> None:
        super().__init__()
        if features < 1 or blocks < 0:
            raise ValueError(f"features must be >= 1 and blocks >= 0, got {features} and {blocks}")
        self.head = nn.Conv3d(1, features, kernel_size=3, padding=1)
        self.blocks = nn.Sequential(*[ResidualBlock(make_conv, features) for _ in range(blocks)])
        self.body = make_conv(features)
        self.tail = nn.Conv3d(features, 1, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        features = features + self.body(self.blocks(features))
        return x + self.tail(features)
