"""Choosing the tile halo by measurement: the smallest overlap whose tiled result matches the untiled one."""

from __future__ import annotations

from math import prod
from typing import Callable

import numpy as np

from ..hu import HUNormalization
from .tiled import denoise_hu
from .tiling import Halo, halo_zyx

SEAM_TILE_VOXELS = 40_000  # small tiles, so that a study volume has seams along every axis
Measured = list[tuple[Halo, float]]  # (halo tried, seam error in HU), in the order measured


def tiling_error(hu: np.ndarray, run: Callable[[np.ndarray], np.ndarray], normalization: HUNormalization, halo: Halo,
                 tile_voxels: int = SEAM_TILE_VOXELS) -> float:
    """Max |tiled - untiled| in HU; both use the same halo at the volume's own borders."""
    untiled = denoise_hu(hu, run, normalization, halo, max_tile_voxels=10**12)
    tiled = denoise_hu(hu, run, normalization, halo, max_tile_voxels=tile_voxels)
    return float(np.abs(tiled - untiled).max())


def choose_halo(hu: np.ndarray, run: Callable[[np.ndarray], np.ndarray], normalization: HUNormalization,
                receptive_radius: Halo, tolerance_hu: float = 0.25) -> tuple[Halo, Measured]:
    """Smallest even halo whose seam error is within ``tolerance_hu``; falls back to the receptive field.

    A network that reaches as far along every axis gets one number. One that reaches further in-plane than
    through the slices (``receptive_radius`` (z, y, x) with y or x > z) gets (z, yx, yx): the z halo chosen with
    the in-plane halo at its full reach, then the in-plane halo with that z halo.

    Args:
        hu: the study volume (Z, Y, X) in HU.
        run: the network's runner.
        normalization: the network's HU normalisation.
        receptive_radius: the network's reach, one number or (z, y, x).
        tolerance_hu: the largest seam error (max abs, HU) accepted.

    Returns:
        The halo, and every (halo tried, seam error in HU) in the order measured.
    """
    radius_z, radius_y, radius_x = halo_zyx(receptive_radius)
    if radius_z == radius_y == radius_x:
        return _smallest(hu, run, normalization, lambda h: h, radius_z, tolerance_hu)
    in_plane = max(radius_y, radius_x)
    deep, through = _smallest(hu, run, normalization, lambda h: (h, in_plane, in_plane), radius_z, tolerance_hu)
    z = halo_zyx(deep)[0]
    chosen, across = _smallest(hu, run, normalization, lambda h: (z, h, h), in_plane, tolerance_hu)
    return chosen, through + across


def _smallest(hu: np.ndarray, run: Callable[[np.ndarray], np.ndarray], normalization: HUNormalization,
              halo_of: Callable[[int], Halo], radius: int, tolerance_hu: float) -> tuple[Halo, Measured]:
    measured: Measured = []
    for size in range(2, radius + 1, 2):
        halo = halo_of(size)
        tile_voxels = max(SEAM_TILE_VOXELS, prod(4 * h for h in halo_zyx(halo)))
        error = tiling_error(hu, run, normalization, halo, tile_voxels=tile_voxels)
        measured.append((halo, error))
        if error <= tolerance_hu:
            return halo, measured
    return halo_of(radius), measured


def halo_warning(model: str, card: dict, model_halo: Halo, halo: int | None) -> str:
    """What a ``--halo`` below the model's own costs, from the seams its card measured (``inference``'s
    ``halo_max_abs_error_hu``: max |tiled - untiled| in HU per halo tried, keyed ``"10"`` or ``"10,24,24"``);
    empty when ``halo`` is not below the model's halo along any axis.

    Args:
        model: the model's name, as the message names it.
        card: its model card.
        model_halo: the halo the card chose (``LoadedModel.halo``): one number or (z, y, x).
        halo: the halo asked for (``--halo``, the same along every axis); None: the model's own.
    """
    widest = max(halo_zyx(model_halo))
    if halo is None or halo >= widest:
        return ""
    shown = str(model_halo) if isinstance(model_halo, int) else "(z, y, x) " + ", ".join(map(str, model_halo))
    measured = {int(key): float(value)
                for key, value in card.get("inference", {}).get("halo_max_abs_error_hu", {}).items()
                if str(key).isdigit()}  # seams of halos the same along every axis, as --halo is
    at_most = [size for size in measured if size <= halo]
    if at_most:
        size = max(at_most)
        seam = f"seams of up to {measured[size]:.1f} HU (measured at halo {size})"
    elif measured:
        size = min(measured)
        seam = f"seams of more than {measured[size]:.1f} HU (measured at halo {size})"
    else:
        seam = "seams its card has not measured"
    return (f"warning: --halo {halo} is below {model}'s measured halo of {shown}: where the volume is split into "
            f"tiles, {seam}. Leave --halo out to use the model's.")
