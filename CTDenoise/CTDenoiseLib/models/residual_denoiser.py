"""The EDSR-style residual topology shared by both network families.

head conv -> N residual blocks [conv, ReLU, conv] + identity -> body conv + long skip -> output conv,
and the whole network predicts a correction added to its input (residual learning). The families differ
only in the convolution that the blocks and the body conv use, passed in as ``make_conv``.

With ``z_upscale`` f > 1 (thick low-dose slices in, thin slices out, e.g. 2 mm -> 1 mm with f = 2) the features
are upsampled along z only, EDSR-style: a 3x3x3 conv to f x F channels and a sub-pixel shuffle along z, before
the output conv; the residual is added to the input linearly interpolated along z. With f = 1 the network and its
parameter names are exactly those of the plain denoiser, so existing weights load unchanged.

With ``noise_input`` the head takes a second channel, the input's noise level (``noise_channel``), and the residual
is added to the first channel only.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
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


def shuffle_z(x: torch.Tensor, factor: int) -> torch.Tensor:
    """(N, C*f, Z, Y, X) -> (N, C, Z*f, Y, X): sub-pixel shuffle along z only."""
    n, channels, depth, height, width = x.shape
    x = x.view(n, channels // factor, factor, depth, height, width).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(n, channels // factor, depth * factor, height, width)


class ResidualDenoiser(nn.Module):
    """Maps a normalised CT volume ``(N, 1, Z, Y, X)`` (``(N, 2, Z, Y, X)`` with its noise level when
    ``noise_input``) to its denoised version ``(N, 1, Z * z_upscale, Y, X)``."""

    def __init__(self, make_conv: ConvFactory, features: int, blocks: int, z_upscale: int = 1,
                 noise_input: bool = False) -> None:
        super().__init__()
        if features < 1 or blocks < 0 or z_upscale < 1:
            raise ValueError(f"features must be >= 1, blocks >= 0 and z_upscale >= 1, "
                             f"got {features}, {blocks}, {z_upscale}")
        self.z_upscale = z_upscale
        self.input_channels = 2 if noise_input else 1
        self.head = nn.Conv3d(self.input_channels, features, kernel_size=3, padding=1)
        self.blocks = nn.Sequential(*[ResidualBlock(make_conv, features) for _ in range(blocks)])
        self.body = make_conv(features)
        if z_upscale > 1:
            self.upsample = nn.Conv3d(features, features * z_upscale, kernel_size=3, padding=1)
        self.tail = nn.Conv3d(features, 1, kernel_size=3, padding=1)
        # Start as the identity (zero correction): training refines the input instead of first undoing a
        # random residual, which matters when a CPU budget allows only a few thousand steps.
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def trunk(self, features: torch.Tensor) -> torch.Tensor:
        """The residual blocks between head and body (a family with more than a chain of blocks overrides it)."""
        return self.blocks(features)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The features the tail reads: the head's output plus the body's correction (long skip)."""
        features = self.head(x)
        return features + self.body(self.trunk(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image = x[:, :1] if self.input_channels > 1 else x
        features = self.features(x)
        if self.z_upscale == 1:
            return image + self.tail(features)
        features = shuffle_z(self.upsample(features), self.z_upscale)
        base = F.interpolate(image, scale_factor=(float(self.z_upscale), 1.0, 1.0), mode="trilinear",
                             align_corners=False)
        return base + self.tail(features)
