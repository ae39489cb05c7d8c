"""The EDSR-style residual topology shared by the network families (``models.DenoiserFamily``).

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
    """``x + conv2(relu(conv1(x)))``.

    Args:
        make_conv: builds each of the two convolutions.
        features: their channels.
    """

    def __init__(self, make_conv: ConvFactory, features: int) -> None:
        super().__init__()
        self.conv1 = make_conv(features)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = make_conv(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output.

        Args:
            x: features (N, F, Z, Y, X).
        """
        return x + self.conv2(self.relu(self.conv1(x)))


def shuffle_z(x: torch.Tensor, factor: int) -> torch.Tensor:
    """(N, C*f, Z, Y, X) -> (N, C, Z*f, Y, X): sub-pixel shuffle along z only."""
    n, channels, depth, height, width = x.shape
    x = x.view(n, channels // factor, factor, depth, height, width).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(n, channels // factor, depth * factor, height, width)


def chain_radius(convolutions: list[nn.Conv3d]) -> tuple[int, int, int]:
    """Voxels (z, y, x) an output voxel reaches through stride-1 convolutions on one chain (skips only shorten
    paths), so the radii add up. For a z-upscaling network the output conv runs on the finer grid, so the sum is an
    upper bound in input voxels.

    Args:
        convolutions: the chain's convolutions.
    """
    radius = [0, 0, 0]
    for conv in convolutions:
        for axis in range(3):
            radius[axis] += (conv.kernel_size[axis] - 1) // 2 * conv.dilation[axis]
    return radius[0], radius[1], radius[2]


class ResidualDenoiser(nn.Module):
    """Maps a normalised CT volume ``(N, 1, Z, Y, X)`` (``(N, 2, Z, Y, X)`` with its noise level when
    ``noise_input``) to its denoised version ``(N, 1, Z * z_upscale, Y, X)``; a ``models.DenoiserFamily``.

    Args:
        make_conv: builds the feature-to-feature convolution of the blocks and the body (the family's choice).
        features: channels of every feature convolution.
        blocks: residual blocks.
        z_upscale: output slices per input slice.
        noise_input: take the noise level as a second input channel.
    """

    fp32_modules: tuple[str, ...] = ("head", "tail")  # INT8 keeps the single-channel input and output convolutions
    grows_from: tuple[str, ...] = ()  # other families whose networks grow into this one (its own always does)
    spatial_multiple = 1  # any in-plane tile size

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
        """The residual blocks between head and body (a family with more than a chain of blocks overrides it).

        Args:
            features: the head's output.
        """
        return self.blocks(features)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The features the tail reads: the head's output plus the body's correction (long skip).

        Args:
            x: normalised volumes (N, input channels, Z, Y, X).
        """
        features = self.head(x)
        return features + self.body(self.trunk(features))

    def receptive_field_radius(self) -> tuple[int, int, int]:
        """Voxels (z, y, x) on each side of an output voxel that can influence it: every convolution is stride 1
        on one chain (``chain_radius``)."""
        return chain_radius([module for module in self.modules() if isinstance(module, nn.Conv3d)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The denoised volumes (N, 1, Z * z_upscale, Y, X).

        Args:
            x: normalised volumes (N, input channels, Z, Y, X).
        """
        image = x[:, :1] if self.input_channels > 1 else x
        features = self.features(x)
        if self.z_upscale == 1:
            return image + self.tail(features)
        features = shuffle_z(self.upsample(features), self.z_upscale)
        base = F.interpolate(image, scale_factor=(float(self.z_upscale), 1.0, 1.0), mode="trilinear",
                             align_corners=False)
        return base + self.tail(features)
