"""Training data: normal-dose volumes, their simulated low-dose versions, and random 3D patch pairs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from CTDenoiseLib.hu import HUNormalization, check_ct_values
from CTDenoiseLib.simulation import DoseSimulation, simulate_volume
from CTDenoiseLib.volume_io import Volume, read_volume, write_volume

AIR_HU = -900.0


@dataclass
class Pair:
    """One normal-dose volume and one simulated low-dose realisation, both normalised (Z, Y, X) float32."""

    source: str
    normal: np.ndarray
    low: np.ndarray
    hu_normal: np.ndarray


def _cache_key(path: str, settings: DoseSimulation) -> str:
    stat = Path(path).stat()
    text = json.dumps([str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, settings.to_dict()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def simulated(volume: Volume, path: str, settings: DoseSimulation, cache_dir: Path | None) -> Volume:
    """The low-dose version of ``volume``, read from ``cache_dir`` when it was simulated before."""
    if cache_dir is None:
        return simulate_volume(volume, settings)
    cached = cache_dir / f"{_cache_key(path, settings)}.nrrd"
    if cached.is_file():
        return read_volume(cached)
    low = simulate_volume(volume, settings)
    cache_dir.mkdir(parents=True, exist_ok=True)
    write_volume(low.with_array(low.array.astype(np.float32)), cached)
    return low


def load_pairs(paths: list[str], settings: DoseSimulation, realisations: int, normalization: HUNormalization,
               cache_dir: Path | None = None) -> list[Pair]:
    pairs = []
    for index, path in enumerate(paths):
        volume = read_volume(path)
        check_ct_values(volume.array, name=str(path))
        normal = normalization.normalise(volume.array)
        for realisation in range(realisations):
            seed = settings.seed * 100_003 + index * 1_000 + realisation
            low = simulated(volume, path, DoseSimulation(**{**settings.to_dict(), "seed": seed}), cache_dir)
            pairs.append(Pair(source=str(path), normal=normal, low=normalization.normalise(low.array),
                              hu_normal=volume.array))
    return pairs


class PatchSampler:
    """Random patch pairs that favour body and lung over air, with flips and in-plane 90-degree rotations
    (z keeps its meaning: it is only ever flipped, never swapped with an in-plane axis)."""

    def __init__(self, pairs: list[Pair], patch: tuple[int, int, int], seed: int, air_fraction_limit: float = 0.6,
                 keep_air_probability: float = 0.1) -> None:
        self.pairs, self.patch = pairs, patch
        self.rng = np.random.default_rng(seed)
        self.air_fraction_limit, self.keep_air_probability = air_fraction_limit, keep_air_probability
        for pair in pairs:
            if any(size > limit for size, limit in zip(patch, pair.normal.shape)):
                raise ValueError(f"patch {patch} is larger than volume {pair.source} {pair.normal.shape}")
        weights = np.array([pair.normal.size for pair in pairs], dtype=np.float64)
        self.weights = weights / weights.sum()

    def _crop(self, pair: Pair) -> tuple[tuple[slice, ...], float]:
        starts = [int(self.rng.integers(0, limit - size + 1)) for size, limit in zip(self.patch, pair.normal.shape)]
        region = tuple(slice(start, start + size) for start, size in zip(starts, self.patch))
        return region, float((pair.hu_normal[region] < AIR_HU).mean())

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        pair = self.pairs[int(self.rng.choice(len(self.pairs), p=self.weights))]
        for _ in range(20):
            region, air = self._crop(pair)
            if air <= self.air_fraction_limit or self.rng.random() < self.keep_air_probability:
                break
        low, normal = pair.low[region], pair.normal[region]
        for axis in range(3):
            if self.rng.random() < 0.5:
                low, normal = np.flip(low, axis), np.flip(normal, axis)
        turns = int(self.rng.integers(4))
        low, normal = np.rot90(low, turns, axes=(1, 2)), np.rot90(normal, turns, axes=(1, 2))
        return np.ascontiguousarray(low), np.ascontiguousarray(normal)

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        samples = [self.sample() for _ in range(size)]
        return (np.stack([low for low, _ in samples])[:, None], np.stack([normal for _, normal in samples])[:, None])
