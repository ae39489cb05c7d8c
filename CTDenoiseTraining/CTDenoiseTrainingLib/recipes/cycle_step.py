"""One step of the unpaired recipe: the generators against the discriminators (least squares), with cycle,
identity and perceptual-cycle terms, then the discriminators on real and (detached) generated patches.

All parameters share one Adam with two parameter groups (generators, discriminators): each phase leaves the
other group's gradients unset, and Adam skips parameters without a gradient, so the phases update only their
own networks while the checkpoint keeps one optimizer state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..distributed import Context
from .collective import average_gradients
from .cycle_networks import CycleNetworks
from .feature_space import FeatureSpace, perceptual_distance


@dataclass(frozen=True)
class CycleWeights:
    adversarial: float
    cycle: float
    identity: float
    perceptual: float


def _least_squares(scores: torch.Tensor, target: float) -> torch.Tensor:
    return F.mse_loss(scores.float(), torch.full_like(scores.float(), target))


def cycle_step(nets: CycleNetworks, low: torch.Tensor, normal: torch.Tensor, weights: CycleWeights,
               space: FeatureSpace | None, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               amp: str, context: Context) -> dict[str, torch.Tensor]:
    """Update both generators, then both discriminators; returns the (detached) loss terms.

    Args:
        nets: the four networks.
        low: low-dose patches (normalised).
        normal: normal-dose patches of other scans (normalised).
        weights: loss weights.
        space: feature space of the perceptual term (None: term off).
        optimizer: Adam over both parameter groups.
        scaler: gradient scaler (enabled with FP16 autocast).
        amp: the autocast mode.
        context: the distributed context (gradients are averaged over ranks).
    """
    from ..train import autocast

    device = context.device
    discriminators = (nets.d_low, nets.d_normal)
    for network in discriminators:
        network.requires_grad_(False)
    with autocast(amp, device):
        fake_normal, fake_low = nets.g(low), nets.f(normal)
        cycled_low, cycled_normal = nets.f(fake_normal), nets.g(fake_low)
        adversarial = _least_squares(nets.d_normal(fake_normal), 1.0) + _least_squares(nets.d_low(fake_low), 1.0)
        identity = (F.l1_loss(nets.g(normal).float(), normal) + F.l1_loss(nets.f(low).float(), low)
                    if weights.identity > 0 else torch.zeros((), device=device))
    cycle = F.l1_loss(cycled_low.float(), low) + F.l1_loss(cycled_normal.float(), normal)
    perceptual = torch.zeros((), device=device)
    if space is not None and weights.perceptual > 0:
        perceptual = (perceptual_distance(space, cycled_low.float(), low)
                      + perceptual_distance(space, cycled_normal.float(), normal))
    generator_loss = (weights.adversarial * adversarial + weights.cycle * cycle + weights.identity * identity
                      + weights.perceptual * perceptual)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(generator_loss).backward()
    average_gradients(context, nets.generator_parameters())
    scaler.step(optimizer)
    scaler.update()

    for network in discriminators:
        network.requires_grad_(True)
    with autocast(amp, device):
        # real and generated in one forward each (instance norm: the batch members do not mix)
        scores_normal = nets.d_normal(torch.cat([normal, fake_normal.detach()]))
        scores_low = nets.d_low(torch.cat([low, fake_low.detach()]))
    half = low.shape[0]
    discriminator_loss = 0.5 * (_least_squares(scores_normal[:half], 1.0) + _least_squares(scores_normal[half:], 0.0)
                                + _least_squares(scores_low[:half], 1.0) + _least_squares(scores_low[half:], 0.0))
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(discriminator_loss).backward()
    average_gradients(context, nets.discriminator_parameters())
    scaler.step(optimizer)
    scaler.update()
    return {name: value.detach() for name, value in (
        ("generator", generator_loss), ("discriminator", discriminator_loss), ("adversarial", adversarial),
        ("cycle", cycle), ("identity", identity), ("perceptual", perceptual))}
