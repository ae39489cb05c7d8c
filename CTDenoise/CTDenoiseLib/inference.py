"""Whole-volume denoising with bounded memory: normalise, tile with halos, run, reassemble, restore HU."""

from __future__ import annotations

from typing import Callable

import numpy as np

from .hu import HUNormalization
from .tiling import plan_tiles

DEFAULT_MAX_TILE_VOXELS = 4_000_000


def denoise_hu(hu: np.ndarray, run: Callable[[np.ndarray], np.ndarray], normalization: HUNormalization,
               halo: int, max_tile_voxels: int = DEFAULT_MAX_TILE_VOXELS,
               on_tile: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Denoise a (Z, Y, X) HU array; returns float32 HU. Voxels outside the normalisation's HU range
    (scanner padding, metal) are returned unchanged. The input array is not modified."""
    normalised = normalization.normalise(hu)
    padded = np.pad(normalised, halo, mode="edge")
    output = np.empty_like(normalised)
    tiles = plan_tiles(hu.shape, halo, max_tile_voxels)
    for index, tile in enumerate(tiles):
        output[tile.target] = run(padded[tile.source])[tile.crop]
        if on_tile:
            on_tile(index + 1, len(tiles))
    del padded
    denoised = normalization.denormalise(output)
    untouched = ~normalization.in_range(hu)
    denoised[untouched] = hu[untouched]
    return denoised
