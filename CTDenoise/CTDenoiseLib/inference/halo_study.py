"""Choosing the tile halo by measurement: the smallest overlap whose tiled result matches the untiled one."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..hu import HUNormalization
from .tiled import denoise_hu

SEAM_TILE_VOXELS = 40_000  # small tiles, so that a study volume has seams along every axis


def tiling_error(hu: np.ndarray, run: Callable[[np.ndarray], np.ndarray], normalization: HUNormalization, halo: int,
                 tile_voxels: int = SEAM_TILE_VOXELS) -> float:
    """Max |tiled - untiled| in HU; both use the same halo at the volume's own borders."""
    untiled = denoise_hu(hu, run, normalization, halo, max_tile_voxels=10**12)
    tiled = denoise_hu(hu, run, normalization, halo, max_tile_voxels=tile_voxels)
    return float(np.abs(tiled - untiled).max())


def choose_halo(hu: np.ndarray, run: Callable[[np.ndarray], np.ndarray], normalization: HUNormalization,
                receptive_radius: int, tolerance_hu: float = 0.25) -> tuple[int, list[tuple[int, float]]]:
    """Smallest even halo whose seam error is within ``tolerance_hu``; falls back to the receptive field."""
    measured = []
    for halo in range(2, receptive_radius + 1, 2):
        error = tiling_error(hu, run, normalization, halo, tile_voxels=max(SEAM_TILE_VOXELS, (4 * halo) ** 3))
        measured.append((halo, error))
        if error <= tolerance_hu:
            return halo, measured
    return receptive_radius, measured
