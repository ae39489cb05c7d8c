"""One step of the unpaired recipe: the generators against the discriminators (least squares), with cycle,
identity and perceptual-cycle terms, then the discriminators on real and (detached) generated patches.

All parameters share one Adam with two parameter groups (generators, discriminators): each phase leaves the
other group's gradients unset, and Adam skips parameters without a gradient, so the phases update only their
own networks while the checkpoint keeps one optimizer state.

A noise-conditioned low -> normal generator (``noise_input``) gets both domains' patches with a second channel,
the level of the scan they come from; the generated low dose it cleans again in the normal -> low -> normal cycle
gets the level that ``patches.py`` gives a simulated pair: the generated noise (generated low minus normal) combined
with the normal scan's own. The normal -> low generator and the discriminators see images only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from CTDenoiseLib.hu import HUNormalization
from CTDenoiseLib.models.noise_channel import UNIT_HU

from ..distributed import Context
from ..optimisation import autocast, descend
from .collective import average_gradients
from .cycle_networks import CycleNetworks
from .feature_space import FeatureSpace, perceptual_distance


@dataclass(frozen=True)
class CycleWeights:
    """Weights of the generators' loss terms (the configuration's ``*_weight`` keys)."""

    adversarial: float
    cycle: float
    identity: float
    perceptual: float


def _least_squares(scores: torch.Tensor, target: float) -> torch.Tensor:
    return F.mse_loss(scores.float(), torch.full_like(scores.float(), target))


def with_generated_level(fake_low: torch.Tensor, normal: torch.Tensor) -> torch.Tensor:
    """Generated low dose (B, 1, ...) stacked with its noise level: the standard deviation of what the generator
    added, combined with the normal scan's own level (channel 1 of ``normal``); constant, no gradient.

    Args:
        fake_low: the normal -> low generator's output (normalised).
        normal: the normal-dose patches with their level channel.
    """
    added = (fake_low.detach().float() - normal[:, :1]).flatten(1).std(dim=1) * HUNormalization().scale / UNIT_HU
    own = normal[:, 1].flatten(1).mean(dim=1)
    level = torch.hypot(added, own).to(fake_low.dtype)
    return torch.cat([fake_low, level[:, None, None, None, None].expand_as(fake_low)], dim=1)


def cycle_step(nets: CycleNetworks, low: torch.Tensor, normal: torch.Tensor, weights: CycleWeights,
               space: FeatureSpace | None, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               amp: str, context: Context) -> dict[str, torch.Tensor]:
    """Update both generators, then both discriminators; returns the (detached) loss terms.

    Args:
        nets: the four networks.
        low: low-dose patches (normalised), with the noise-level channel for a noise-conditioned generator.
        normal: normal-dose patches of other scans (normalised), likewise.
        weights: loss weights.
        space: feature space of the perceptual term (None: term off).
        optimizer: Adam over both parameter groups.
        scaler: gradient scaler (enabled with FP16 autocast).
        amp: the autocast mode.
        context: the distributed context (gradients are averaged over ranks).
    """
    device = context.device
    conditioned = low.shape[1] == 2
    low_image, normal_image = low[:, :1], normal[:, :1]  # the whole patch when there is no level channel
    discriminators = (nets.d_low, nets.d_normal)
    for network in discriminators:
        network.requires_grad_(False)
    with autocast(amp, device):
        fake_normal, fake_low = nets.g(low), nets.f(normal_image)
        cycled_low = nets.f(fake_normal)
        cycled_normal = nets.g(with_generated_level(fake_low, normal) if conditioned else fake_low)
        adversarial = _least_squares(nets.d_normal(fake_normal), 1.0) + _least_squares(nets.d_low(fake_low), 1.0)
        identity = (F.l1_loss(nets.g(normal).float(), normal_image) + F.l1_loss(nets.f(low_image).float(), low_image)
                    if weights.identity > 0 else torch.zeros((), device=device))
    cycle = F.l1_loss(cycled_low.float(), low_image) + F.l1_loss(cycled_normal.float(), normal_image)
    perceptual = torch.zeros((), device=device)
    if space is not None and weights.perceptual > 0:
        perceptual = (perceptual_distance(space, cycled_low.float(), low_image)
                      + perceptual_distance(space, cycled_normal.float(), normal_image))
    generator_loss = (weights.adversarial * adversarial + weights.cycle * cycle + weights.identity * identity
                      + weights.perceptual * perceptual)
    descend(generator_loss, optimizer, scaler, lambda: average_gradients(context, nets.generator_parameters()))

    for network in discriminators:
        network.requires_grad_(True)
    with autocast(amp, device):
        # real and generated in one forward each (instance norm: the batch members do not mix)
        scores_normal = nets.d_normal(torch.cat([normal_image, fake_normal.detach()]))
        scores_low = nets.d_low(torch.cat([low_image, fake_low.detach()]))
    half = low.shape[0]
    discriminator_loss = 0.5 * (_least_squares(scores_normal[:half], 1.0) + _least_squares(scores_normal[half:], 0.0)
                                + _least_squares(scores_low[:half], 1.0) + _least_squares(scores_low[half:], 0.0))
    descend(discriminator_loss, optimizer, scaler,
            lambda: average_gradients(context, nets.discriminator_parameters()))
    return {name: value.detach() for name, value in (
        ("generator", generator_loss), ("discriminator", discriminator_loss), ("adversarial", adversarial),
        ("cycle", cycle), ("identity", identity), ("perceptual", perceptual))}
