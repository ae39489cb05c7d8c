"""``--adapt``: fine-tune a copy of the network on the scan it is about to denoise, without a reference.

The networks learned simulated noise; a scanner's real noise has its own texture, and the scan its own anatomy.
Recorrupted-to-recorrupted training (Pang et al., CVPR 2021) learns from the noisy scan alone: with a noise field
``n`` of the scan's own covariance (``simulation.noise_field``: the simulator's texture nearest the scan's grain,
scaled to the estimated level of each slice), the network is given ``y + a n`` and asked for ``y - n / a``. For
Gaussian noise of that covariance the two noises are independent, so the expected loss is the supervised loss
against the clean scan, at a noise level ``sqrt(1 + a^2)`` times the scan's (which the noise channel is told).

Patches come from a few slabs spread along z; a few hundred steps take a few minutes on two CPU cores whatever
the scan's size. The adapted network runs in FP32 (or FP16 on a GPU): INT8 is a calibrated artefact of the
shipped weights. The original weights are not touched; each scan gets its own copy.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from ..errors import CTDenoiseError
from ..models.noise_channel import channel_value
from ..noise.estimate import estimate_noise_per_slice
from ..simulation.noise_field import BODY_HU, nearest_kernel, noise_field

if TYPE_CHECKING:
    from ..models.files import LoadedModel


@dataclass(frozen=True)
class Adaptation:
    """How a network is adapted to one scan.

    Attributes:
        steps: optimiser steps (each a batch of patches).
        learning_rate: Adam's learning rate.
        recorruption: ``a``: the input gets ``a`` times the field, the target loses ``1 / a`` times it.
        patch: (z, y, x) voxels of a training patch, at most (smaller scans give smaller patches).
        batch: patches per step.
        slabs: slabs of ``patch[0]`` slices, spread evenly along z, that patches are drawn from.
        fields_per_slab: noise fields drawn per slab (patches are also flipped and transposed in-plane).
        seed: seed of the fields, the patch positions and the order.
    """

    steps: int = 300
    learning_rate: float = 2e-5
    recorruption: float = 0.5
    patch: tuple[int, int, int] = (12, 96, 96)
    batch: int = 2
    slabs: int = 4
    fields_per_slab: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.steps <= 100_000:
            raise CTDenoiseError(f"Adaptation steps must be between 1 and 100000, got {self.steps}.",
                                 "Use e.g. --adapt-steps 300 (the default).")


def int8_refusal() -> CTDenoiseError:
    """The one line for ``--adapt`` asked of INT8."""
    return CTDenoiseError("--adapt fine-tunes the network's weights, which INT8 cannot run: its weights are a "
                          "calibrated artefact of the shipped model.",
                          "Use --precision fp32 (or auto, which runs FP32 when adapting).")


@dataclass(frozen=True)
class AdaptationReport:
    """What an adaptation did.

    Attributes:
        steps: steps taken.
        kernel: the simulator's kernel whose texture the noise fields had.
        seconds: fields, fine-tuning and all, in seconds.
        first_loss: the recorrupted loss (normalised units squared) over the first tenth of the steps.
        last_loss: the same over the last tenth.
    """

    steps: int
    kernel: str
    seconds: float
    first_loss: float
    last_loss: float

    @property
    def summary(self) -> str:
        """In words, for a log line and the output's header."""
        return (f"adapted to this scan: {self.steps} steps of recorrupted-to-recorrupted fine-tuning, "
                f"{self.kernel} noise texture, {self.seconds:.0f} s")

    def event(self) -> dict:
        """The report as an ``adapted`` event."""
        from .. import events

        return events.event("adapted", steps=self.steps, kernel=self.kernel, seconds=round(self.seconds, 1),
                            first_loss=round(self.first_loss, 6), last_loss=round(self.last_loss, 6))


def _slab_starts(depth: int, slab_depth: int, slabs: int) -> list[int]:
    centres = [(index + 0.5) * depth / slabs for index in range(slabs)]
    return sorted({int(min(max(round(centre - slab_depth / 2), 0), depth - slab_depth)) for centre in centres})


def _patch_size(shape: tuple[int, int, int], wanted: tuple[int, int, int], multiple: int) -> tuple[int, int, int]:
    size = [min(wanted[0], shape[0])]
    for extent, want in zip(shape[1:], wanted[1:]):
        size.append(min(want, extent) // multiple * multiple)
    if min(size) < 1:
        raise CTDenoiseError(f"The scan ({shape[2]} x {shape[1]} pixels) is too small to adapt to.",
                             "Run without --adapt.")
    return tuple(size)


def adapt_model(loaded: "LoadedModel", hu: np.ndarray, told_hu: float | np.ndarray | None, settings: Adaptation,
                level_gain: float = 1.0, pixel_mm: float = 1.0, device: str = "cpu",
                on_step: Callable[[int, int], None] | None = None) -> tuple["LoadedModel", AdaptationReport]:
    """A copy of ``loaded`` fine-tuned on ``hu`` by recorrupted-to-recorrupted training.

    Args:
        loaded: the model; its module is copied, not changed.
        hu: the scan, (Z, Y, X) HU; only read.
        told_hu: the noise level the network is told at inference (one number or (Z,), HU; None: nothing, a
            blind network); its noise channel is told ``sqrt(1 + a^2)`` times it during adaptation. The fields are
            scaled to each slice's own estimate (``noise.estimate``).
        settings: steps, learning rate, recorruption and patches.
        level_gain: the model's noise-level gain for this scan (what its noise channel is told, times the level).
        pixel_mm: the in-plane pixel size, mm (for the simulator's attenuation).
        device: ``cpu`` or ``cuda``; fine-tuning runs there in FP32.
        on_step: called with (steps done, steps) every few steps.

    Returns:
        The adapted model (FP32 module in eval mode, on the CPU) and what was done.

    Raises:
        CTDenoiseError: the scan's noise level is unknown (no flat soft tissue to measure it in), or the network
            upscales z.
    """
    started = time.perf_counter()
    if loaded.config.z_upscale != 1:
        raise CTDenoiseError(f"Model '{loaded.name}' makes {loaded.config.z_upscale} slices per input slice; --adapt "
                             "adapts a network whose output has its input's slices.", "Run it without --adapt.")
    levels = estimate_noise_per_slice(hu).std_hu
    if not np.isfinite(levels).any():
        raise CTDenoiseError("Cannot adapt to this scan: its noise level could not be measured (no flat soft "
                             "tissue).", "Run without --adapt.")
    told = np.broadcast_to(np.asarray(np.nan if told_hu is None else told_hu, dtype=np.float64), levels.shape)
    multiple = int(getattr(loaded.module, "spatial_multiple", 1))
    patch = _patch_size(hu.shape, settings.patch, multiple)
    rng = np.random.default_rng(settings.seed)
    kernel = nearest_kernel(hu, pixel_mm)
    alpha = settings.recorruption
    norm = loaded.normalization
    slabs = []
    for slab_index, start in enumerate(_slab_starts(hu.shape[0], patch[0], settings.slabs)):
        image = np.ascontiguousarray(hu[start:start + patch[0]], dtype=np.float32)
        slab = slice(start, start + patch[0])
        fields = [noise_field(image, levels[slab], pixel_mm, kernel, settings.seed * 1000 + slab_index * 10 + draw)
                  for draw in range(settings.fields_per_slab)]
        channel = np.asarray(channel_value(told[slab] * math.sqrt(1 + alpha ** 2), level_gain), dtype=np.float32)
        inside = np.argwhere(image[len(image) // 2] > BODY_HU)  # patch centres in the body, not in the air around it
        slabs.append((image, fields, channel, inside))
    conditioned = int(getattr(loaded.module, "input_channels", 1)) == 2
    module = copy.deepcopy(loaded.module).float().to(device).eval()  # eval: the networks have no normalisation layers
    optimiser = torch.optim.Adam(module.parameters(), lr=settings.learning_rate)
    losses = []
    for step in range(1, settings.steps + 1):
        inputs, targets, weights = [], [], []
        for _ in range(settings.batch):
            image, fields, channel, inside = slabs[rng.integers(len(slabs))]
            field = fields[rng.integers(len(fields))]
            centre = inside[rng.integers(len(inside))] if len(inside) else np.array(image.shape[1:]) // 2
            corner = [int(np.clip(middle - size // 2, 0, extent - size))
                      for middle, size, extent in zip(centre, patch[1:], image.shape[1:])]
            window = (slice(None), slice(corner[0], corner[0] + patch[1]), slice(corner[1], corner[1] + patch[2]))
            pieces = [image[window], field[window]]
            if rng.random() < 0.5:
                pieces = [piece[:, ::-1] for piece in pieces]
            if rng.random() < 0.5:
                pieces = [piece[:, :, ::-1] for piece in pieces]
            if patch[1] == patch[2] and rng.random() < 0.5:
                pieces = [piece.transpose(0, 2, 1) for piece in pieces]
            scan, noise = pieces
            given = norm.normalise(scan + alpha * noise)
            # the target is not clipped: clipping would bias it where the scan is near the range's ends
            target = (scan - noise / alpha + norm.offset) / norm.scale
            if conditioned:
                given = np.stack([given, np.broadcast_to(channel[:, None, None], given.shape)])
            inputs.append(given if conditioned else given[None])
            targets.append(target[None].astype(np.float32))
            weights.append(norm.in_range(scan)[None])
        given = torch.from_numpy(np.ascontiguousarray(np.stack(inputs))).to(device)
        target = torch.from_numpy(np.ascontiguousarray(np.stack(targets))).to(device)
        weight = torch.from_numpy(np.ascontiguousarray(np.stack(weights))).to(device, torch.float32)
        loss = torch.sum(weight * (module(given) - target) ** 2) / weight.sum().clamp(min=1.0)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.item()))
        if on_step and (step % 10 == 0 or step == settings.steps):
            on_step(step, settings.steps)
    tenth = max(1, len(losses) // 10)
    module = module.cpu().eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    report = AdaptationReport(settings.steps, kernel, time.perf_counter() - started,
                              float(np.mean(losses[:tenth])), float(np.mean(losses[-tenth:])))
    return replace(loaded, module=module), report
