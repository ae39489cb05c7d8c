"""The four networks of the unpaired recipe in one module (one state dict, one checkpoint): the generator
low -> normal (the shipped denoiser, what is exported), the generator normal -> low (the same family, small),
and a 3D patch discriminator for each domain (least-squares GAN, Mao et al. 2017)."""

from __future__ import annotations

import torch
from torch import nn

from CTDenoiseLib.models import ModelConfig, build_model


class PatchDiscriminator3D(nn.Module):
    """PatchGAN in 3D: strided in-plane (slices are few in a patch), one score per overlapping patch.

    Args:
        features: width of the first layer (doubling twice).
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        f = features
        self.layers = nn.Sequential(
            nn.Conv3d(1, f, (3, 4, 4), stride=(1, 2, 2), padding=1), nn.LeakyReLU(0.2),
            nn.Conv3d(f, 2 * f, (3, 4, 4), stride=(1, 2, 2), padding=1), nn.InstanceNorm3d(2 * f, affine=True),
            nn.LeakyReLU(0.2),
            nn.Conv3d(2 * f, 4 * f, 3, padding=1), nn.InstanceNorm3d(4 * f, affine=True), nn.LeakyReLU(0.2),
            nn.Conv3d(4 * f, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One score per overlapping patch.

        Args:
            x: normalised patches (N, 1, Z, Y, X).
        """
        return self.layers(x - 1.0)  # normalised CT: water at 1, so soft tissue is centred


class CycleNetworks(nn.Module):
    """``g``: low -> normal (exported), ``f``: normal -> low, ``d_low`` and ``d_normal``: discriminators.

    Args:
        denoiser: the exported generator's configuration.
        noise_features: width of the normal -> low generator.
        noise_blocks: residual blocks of the normal -> low generator.
        discriminator_features: first-layer width of both discriminators.
    """

    def __init__(self, denoiser: ModelConfig, noise_features: int, noise_blocks: int,
                 discriminator_features: int) -> None:
        super().__init__()
        self.g = build_model(denoiser)  # first, so it starts as the plain recipe's network does
        self.f = build_model(ModelConfig(denoiser.architecture, noise_features, noise_blocks))
        self.d_low = PatchDiscriminator3D(discriminator_features)
        self.d_normal = PatchDiscriminator3D(discriminator_features)

    def generator_parameters(self) -> list[nn.Parameter]:
        """Both generators' parameters (the first Adam group)."""
        return [*self.g.parameters(), *self.f.parameters()]

    def discriminator_parameters(self) -> list[nn.Parameter]:
        """Both discriminators' parameters (the second Adam group)."""
        return [*self.d_low.parameters(), *self.d_normal.parameters()]
