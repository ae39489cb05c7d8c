"""Random training patches, read lazily from memory-mapped cases, reproducible from (seed, rank, step).

Batch ``step`` of rank ``r`` is drawn from its own generator ``default_rng([seed, r, step])``: it does not
depend on which DataLoader worker makes it or on what came before, so a resumed run sees exactly the batches
the uninterrupted run would have seen, with any number of workers. Patches favour body and lung over air
(a crop that is mostly air is redrawn unless a small keep-probability says otherwise); augmentation flips any
axis and rotates in-plane by multiples of 90 degrees, so z keeps its meaning (it is never swapped with x or y).

Regime augmentation, each off by default and applied to low and normal dose alike (so the target stays the
normal dose of the same anatomy): ``slice_averaging`` averages k adjacent slices (a thicker reconstruction),
``pixel_zoom`` resamples the patch in-plane (another pixel size, so another noise grain in pixels), and
``noise_scale`` multiplies the low-dose noise (another dose: noise std grows as sqrt((1 - a) / a)).

With ``noise_input`` the low-dose patch carries a second channel, its noise level (``models/noise_channel.py``):
the standard deviation of the patch's added noise (low - normal, after the regime augmentation) combined with the
normal dose's own noise (the engine's estimate on the case), i.e. what the engine's estimator measures on a whole
low-dose volume at inference, drawn within +-``noise_level_jitter`` of it as that estimator errs. With
``per_slice_levels`` each slice gets its own level (its own added noise; one jitter draw per patch), as the
engine's per-slice estimate tells the network at inference.

``real_pair_fraction`` > 0 draws that share of patches from the real low-dose pairs (cases not simulated) and the
rest from the simulated ones, each group by voxel count: a small real-noise case (a phantom) is otherwise a
negligible share of a few large simulated volumes.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from CTDenoiseLib.hu import HUNormalization
from CTDenoiseLib.models.noise_channel import channel_value
from CTDenoiseLib.noise.estimate import estimate_noise_std

from .prepare import PreparedCase

AIR_HU = -900


class PatchBatches(Dataset):
    """Item ``step`` is one batch ``(low (B, C, Z/f, Y, X), normal (B, 1, Z, Y, X))``, normalised float32; C is 2
    (image, noise level) with ``noise_input``, else 1."""

    def __init__(self, cases: list[PreparedCase], patch: tuple[int, int, int], batch: int, seed: int, rank: int = 0,
                 z_upscale: int = 1, normalization: HUNormalization | None = None, length: int = 10**12,
                 air_fraction_limit: float = 0.6, keep_air_probability: float = 0.1, open_limit: int = 16,
                 noise_scale: tuple[float, float] = (1.0, 1.0), slice_averaging: tuple[int, int] = (1, 1),
                 pixel_zoom: tuple[float, float] = (1.0, 1.0), noise_input: bool = False,
                 noise_level_jitter: float = 0.15, per_slice_levels: bool = False,
                 real_pair_fraction: float = 0.0) -> None:
        self.cases, self.patch, self.batch, self.seed, self.rank = cases, tuple(patch), batch, seed, rank
        self.noise_input, self.noise_level_jitter = noise_input, float(noise_level_jitter)
        self.per_slice_levels = per_slice_levels
        if noise_input and z_upscale != 1:
            raise ValueError("noise_input needs z_upscale 1 (the noise is the low-dose minus normal-dose difference)")
        # The normal dose's own noise, part of what the estimator sees in a low-dose input (nan: none measurable).
        self.normal_noise_hu = [float(np.nan_to_num(estimate_noise_std(np.load(case.normal, mmap_mode="r")).std_hu))
                                for case in cases] if noise_input else []
        self.factor, self.normalization, self.length = z_upscale, normalization or HUNormalization(), length
        self.air_fraction_limit, self.keep_air_probability = air_fraction_limit, keep_air_probability
        self.open_limit = open_limit
        self.noise_scale = (float(noise_scale[0]), float(noise_scale[1]))
        if not 0 < self.noise_scale[0] <= self.noise_scale[1]:
            raise ValueError(f"noise_scale must be 0 < low <= high, got {noise_scale}")
        if z_upscale != 1 and self.noise_scale != (1.0, 1.0):
            raise ValueError("noise_scale needs z_upscale 1 (the noise is the low-dose minus normal-dose difference)")
        self.slice_averaging = (int(slice_averaging[0]), int(slice_averaging[1]))
        self.pixel_zoom = (float(pixel_zoom[0]), float(pixel_zoom[1]))
        if not 1 <= self.slice_averaging[0] <= self.slice_averaging[1]:
            raise ValueError(f"slice_averaging must be 1 <= low <= high, got {slice_averaging}")
        if not 0 < self.pixel_zoom[0] <= self.pixel_zoom[1]:
            raise ValueError(f"pixel_zoom must be 0 < low <= high, got {pixel_zoom}")
        if z_upscale != 1 and (self.slice_averaging != (1, 1) or self.pixel_zoom != (1.0, 1.0)):
            raise ValueError("slice_averaging and pixel_zoom need z_upscale 1")
        if patch[0] % z_upscale:
            raise ValueError(f"patch depth {patch[0]} is not a multiple of z_upscale {z_upscale}")
        sizes = []
        for case in cases:
            shape = case.shape()
            if any(size > limit for size, limit in zip(patch, shape)):
                raise ValueError(f"patch {tuple(patch)} is larger than case {case.name} {shape}")
            sizes.append(float(np.prod(shape)))
        self.weights = case_weights(np.asarray(sizes), np.asarray([not case.simulated for case in cases]),
                                    real_pair_fraction)
        self._open: OrderedDict[str, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return self.length

    def __getstate__(self) -> dict:  # worker processes map the files themselves
        return {**self.__dict__, "_open": OrderedDict()}

    def _array(self, path: str) -> np.ndarray:
        if path in self._open:
            self._open.move_to_end(path)
        else:
            self._open[path] = np.load(path, mmap_mode="r")
            while len(self._open) > self.open_limit:
                self._open.popitem(last=False)
        return self._open[path]

    def _regime(self, rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[int, float]:
        """Slices averaged and in-plane zoom for one patch, drawn only when their augmentation is on (so runs
        without it draw exactly the numbers they always did)."""
        averaged, zoom = 1, 1.0
        if self.slice_averaging != (1, 1):
            most = min(self.slice_averaging[1], shape[0] // self.patch[0])
            averaged = int(rng.integers(self.slice_averaging[0], max(self.slice_averaging[0], most) + 1))
            averaged = max(1, min(averaged, shape[0] // self.patch[0]))
        if self.pixel_zoom != (1.0, 1.0):
            zoom = float(np.exp(rng.uniform(np.log(self.pixel_zoom[0]), np.log(self.pixel_zoom[1]))))
            zoom = max(zoom, max(self.patch[1] / shape[1], self.patch[2] / shape[2]))  # crop must fit the case
        return averaged, zoom

    def _sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        case_index = int(rng.choice(len(self.cases), p=self.weights))
        case = self.cases[case_index]
        normal = self._array(case.normal)
        low = self._array(case.lows[int(rng.integers(len(case.lows)))])
        averaged, zoom = self._regime(rng, normal.shape)
        f, (pz, py, px) = self.factor, self.patch
        pz, py, px = pz * averaged, int(round(py / zoom)), int(round(px / zoom))
        for _ in range(20):
            z = int(rng.integers(0, low.shape[0] - pz // f + 1))
            y, x = (int(rng.integers(0, limit - size + 1)) for size, limit in zip((py, px), normal.shape[1:]))
            target = np.asarray(normal[z * f:z * f + pz, y:y + py, x:x + px])
            if (target < AIR_HU).mean() <= self.air_fraction_limit or rng.random() < self.keep_air_probability:
                break
        source = np.asarray(low[z:z + pz // f, y:y + py, x:x + px])
        if averaged > 1 or (py, px) != self.patch[1:]:
            source, target = (_resample(array, averaged, self.patch[1:]) for array in (source, target))
        for axis in range(3):
            if rng.random() < 0.5:
                source, target = np.flip(source, axis), np.flip(target, axis)
        turns = int(rng.integers(4))
        source, target = np.rot90(source, turns, axes=(1, 2)), np.rot90(target, turns, axes=(1, 2))
        low_scale, high_scale = self.noise_scale
        if (low_scale, high_scale) != (1.0, 1.0):  # drawn last, so the crop and flips match an unscaled run
            scale = float(np.exp(rng.uniform(np.log(low_scale), np.log(high_scale))))
            source = target + scale * (source.astype(np.float32) - target)
        image = self.normalization.normalise(source)
        if self.noise_input:
            difference = source.astype(np.float32) - target
            added = np.std(difference, axis=(1, 2)) if self.per_slice_levels else float(np.std(difference))
            level = np.hypot(added, self.normal_noise_hu[case_index])
            low_factor, high_factor = np.log(1 - self.noise_level_jitter), np.log(1 + self.noise_level_jitter)
            level = level * float(np.exp(low_factor + rng.random() * (high_factor - low_factor)))  # drawn at any jitter
            channel = np.asarray(channel_value(level), dtype=image.dtype).reshape(-1, 1, 1)  # (1 or Z, 1, 1)
            image = np.stack([image, np.broadcast_to(channel, image.shape)])
        return image, self.normalization.normalise(target)

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.rank, int(step)])
        samples = [self._sample(rng) for _ in range(self.batch)]
        low = np.stack([s for s, _ in samples])
        low = low if self.noise_input else low[:, None]
        normal = np.stack([t for _, t in samples])[:, None]
        return torch.from_numpy(np.ascontiguousarray(low)), torch.from_numpy(np.ascontiguousarray(normal))


def case_weights(voxels: np.ndarray, real: np.ndarray, real_fraction: float = 0.0) -> np.ndarray:
    """How likely each case is to give a patch: by voxel count (every voxel equally likely), or with
    ``real_fraction`` > 0 and both kinds present, that share for the real low-dose pairs and the rest for the
    simulated cases, each group by voxel count.

    Args:
        voxels: each case's voxel count.
        real: whether each case is a real low-dose pair.
        real_fraction: the real pairs' share of patches, in [0, 1).
    """
    weights = voxels / voxels.sum()
    if real_fraction <= 0 or real.all() or not real.any():
        return weights
    shares = np.where(real, real_fraction / voxels[real].sum(), (1 - real_fraction) / voxels[~real].sum())
    return voxels * shares


def _resample(patch: np.ndarray, averaged: int, size: tuple[int, int]) -> np.ndarray:
    """Average groups of ``averaged`` slices, then resample each slice to ``size`` (bilinear, antialiased)."""
    volume = patch.astype(np.float32)
    if averaged > 1:
        volume = volume.reshape(-1, averaged, *volume.shape[1:]).mean(axis=1)
    if tuple(volume.shape[1:]) != tuple(size):
        slices = torch.from_numpy(np.ascontiguousarray(volume))[:, None]
        volume = torch.nn.functional.interpolate(slices, size=tuple(size), mode="bilinear", align_corners=False,
                                                 antialias=True)[:, 0].numpy()
    return volume


def step_loader(dataset: Dataset, start: int, steps: int, requested_workers: int, world: int,
                device: torch.device) -> DataLoader:
    """The batches of steps ``start`` .. ``steps - 1`` (each item of ``dataset`` is a whole batch, so resuming at
    ``start`` sees what an uninterrupted run would), made by ``worker_count`` workers of one thread each.

    Args:
        dataset: batches by step (``PatchBatches`` or the unpaired recipe's).
        start: the first step to make (the step a resumed run continues after).
        steps: the run's step count.
        requested_workers: the configuration's ``workers`` (-1: automatic).
        world: ranks of the run.
        device: the training device (pinned memory on CUDA).
    """
    workers = worker_count(requested_workers, world)
    return DataLoader(dataset, batch_size=None, sampler=range(start, steps), num_workers=workers,
                      pin_memory=device.type == "cuda", worker_init_fn=_one_thread if workers else None,
                      prefetch_factor=4 if workers else None)


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)


def worker_count(requested: int, world: int) -> int:
    """-1: one worker per spare CPU core of this rank (at most 4); on a 2-core machine that is 0 (main process)."""
    if requested >= 0:
        return requested
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(4, cores // max(1, world) - 1))
