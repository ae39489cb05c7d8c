"""Turning cases into arrays a sampler can read lazily: int16 HU ``.npy`` files opened memory-mapped.

Each case is read once (any format the engine reads, DICOM series included), its low dose simulated when no
real low-dose scan is given (``realisations`` independent noise draws), thickened to ``z_upscale`` times the
slice spacing when the network restores thin slices, and stored under the cache folder keyed by the source
files and the settings. Samplers then map the files (``np.load(mmap_mode='r')``): hundreds of volumes cost disk,
not memory, and the operating system's page cache keeps the busy ones fast. Under torchrun each rank prepares
every world_size-th case, so simulation is spread over the ranks.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from CTDenoiseLib.hu import to_int16_hu
from CTDenoiseLib.io.atomic import atomic_write
from CTDenoiseLib.io.plausibility import check_ct_values
from CTDenoiseLib.io.volumes import Volume, read_volume
from CTDenoiseLib.models.registry import sha256_of
from CTDenoiseLib.simulation.low_dose import DoseSimulation, simulate_volume, thicken_slices

from .sources import Case

CACHE_FORMAT = 3  # 3: sources fingerprinted by content (2: by path, size and mtime)


@dataclass(frozen=True)
class PreparedCase:
    name: str
    patient: str
    normal: str  # .npy, int16 HU, (Z, Y, X)
    lows: tuple[str, ...]  # .npy, int16 HU, (Z / z_upscale, Y, X), one per realisation
    simulated: bool

    def shape(self) -> tuple[int, ...]:
        """The prepared normal-dose volume's shape (read from the cached array's header)."""
        return tuple(np.load(self.normal, mmap_mode="r").shape)


def _fingerprint(path: str) -> list:
    # By content, not path or modification time: a data folder copied or re-mounted (fresh mtimes every session
    # on a cluster's scratch) keeps its cache, which otherwise costs the whole simulation again.
    source = Path(path)
    files = sorted(source.iterdir()) if source.is_dir() else [source]
    return [[f.name, sha256_of(f)] for f in files if f.is_file()]


def realisation_settings(settings: DoseSimulation, variants: list[dict] | None, realisation: int) -> DoseSimulation:
    """The simulation of realisation ``realisation``: ``settings`` with the variant it cycles to applied."""
    variant = variants[realisation % len(variants)] if variants else {}
    return DoseSimulation(**{**settings.to_dict(), **variant})


def case_key(case: Case, index: int, settings: DoseSimulation, realisations: int, z_upscale: int,
             variants: list[dict] | None = None) -> str:
    # The simulation seeds depend on the case's index, so the index is part of the key: a cached case is the
    # one an empty cache would have produced, whatever the order of earlier runs.
    simulated = None if case.low else [[realisation_settings(settings, variants, r).to_dict()
                                         for r in range(realisations)], index]
    text = json.dumps([CACHE_FORMAT, _fingerprint(case.normal), _fingerprint(case.low) if case.low else None,
                       simulated, z_upscale], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _save(array: np.ndarray, path: Path) -> None:
    with atomic_write(path, path.with_name(f".{path.name}.{os.getpid()}.partial.npy")) as partial:  # np.save: .npy
        np.save(partial, array)


def _paths(case: Case, key: str, cache: Path, realisations: int) -> tuple[Path, tuple[Path, ...]]:
    folder = cache / "prepared"
    count = 1 if case.low else realisations
    return folder / f"{key}.normal.npy", tuple(folder / f"{key}.low{index}.npy" for index in range(count))


def _thick(volume: Volume, factor: int) -> Volume:
    return thicken_slices(volume, volume.spacing[2] * factor) if factor > 1 else volume


def prepare_case(case: Case, index: int, settings: DoseSimulation, realisations: int, z_upscale: int,
                 cache: Path, log: Callable[[str], None] = print, variants: list[dict] | None = None) -> PreparedCase:
    """Read, check and simulate one case into the cache (or find it there).

    Args:
        case: the normal-dose volume and, if any, its real low-dose scan.
        index: the case's position; with ``settings.seed`` it seeds the simulated noise.
        settings: the low-dose simulation.
        realisations: simulated low-dose volumes per case.
        z_upscale: slices of the target per slice of the low dose.
        cache: folder of prepared arrays.
        log: where progress lines go.
        variants: overrides of ``settings`` (kernel, exposure control) that realisations cycle through.
    """
    key = case_key(case, index, settings, realisations, z_upscale, variants)
    normal_path, low_paths = _paths(case, key, cache, realisations)
    prepared = PreparedCase(case.name, case.patient, str(normal_path), tuple(str(p) for p in low_paths), not case.low)
    if normal_path.is_file() and all(p.is_file() for p in low_paths):
        return prepared
    normal_path.parent.mkdir(parents=True, exist_ok=True)
    volume = read_volume(case.normal)
    check_ct_values(volume.array, name=case.normal)
    if case.low:
        low = read_volume(case.low)
        check_ct_values(low.array, name=case.low)
        depth = low.array.shape[0]
        if low.array.shape[1:] != volume.array.shape[1:] or depth * z_upscale > volume.array.shape[0] \
                or volume.array.shape[0] - depth * z_upscale >= z_upscale:
            raise ValueError(f"low-dose {case.low} {low.array.shape} does not match normal-dose {case.normal} "
                             f"{volume.array.shape} with z_upscale {z_upscale}")
        lows = [low.array]
    else:
        lows = []
        for realisation in range(realisations):
            seed = settings.seed * 100_003 + index * 1_000 + realisation
            simulation = DoseSimulation(**{**realisation_settings(settings, variants, realisation).to_dict(),
                                           "seed": seed})
            log(f"simulating {settings.dose:.0%} dose for {case.name} (realisation {realisation + 1}/{realisations}, "
                f"kernel {simulation.kernel}, exposure control {'on' if simulation.exposure_control else 'off'})")
            lows.append(_thick(simulate_volume(volume, simulation), z_upscale).array)
        depth = lows[0].shape[0]
    _save(to_int16_hu(volume.array[: depth * z_upscale]), normal_path)
    for low_array, path in zip(lows, low_paths):
        _save(to_int16_hu(low_array), path)
    return prepared


def prepare_cases(cases: list[Case], settings: DoseSimulation, realisations: int, z_upscale: int, cache: Path,
                  rank: int = 0, world: int = 1, barrier: Callable[[], None] = lambda: None,
                  log: Callable[[str], None] = print, offset: int = 0,
                  variants: list[dict] | None = None) -> list[PreparedCase]:
    """Prepare this rank's share, wait for the others, then describe every case (nothing is loaded)."""
    for index, case in enumerate(cases):
        if index % world == rank:
            prepare_case(case, offset + index, settings, realisations, z_upscale, cache, log, variants)
    barrier()
    return [prepare_case(case, offset + index, settings, realisations, z_upscale, cache, log, variants)
            for index, case in enumerate(cases)]
