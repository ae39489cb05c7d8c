"""Noise fields with a scan's own texture and level, drawn without a reference (for ``inference.adaptation``).

A field is the simulator's projection-domain noise (``low_dose``) inserted into the scan itself and taken out
again, so it follows the scan's attenuation (more noise behind more tissue). Its texture and level are matched to
the scan's noise with the instrument that measures the scan, ``noise.estimate``, so that the estimator's own biases
(it reads fine-grained noise about 5 % low) cancel: the reconstruction kernel is the one of ``simulation.kernels``
whose noise, added to the scan, changes the scan's estimated grain (sqrt(1 - neighbour correlation)) least, and
each slice is scaled so that adding the field raises the slice's estimated variance by the level asked for squared.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..noise.estimate import SMOOTHING_PIXELS, SOFT_TISSUE_HU, estimate_noise_per_slice, estimate_noise_std
from .kernels import KERNELS
from .low_dose import DoseSimulation, simulate_low_dose_hu

FIELD_DOSE = 0.5  # any dose gives the texture: each slice is rescaled to the level asked for
MIN_MASK_PIXELS = 500  # soft-tissue pixels below which a slice is scaled on its whole body instead
BODY_HU = -500.0


def soft_tissue(hu: np.ndarray) -> np.ndarray:
    """Per slice, the pixels whose smoothed value is soft tissue (``noise.estimate``'s HU range), where a slice
    has at least ``MIN_MASK_PIXELS`` of them; else the slice's body (above ``BODY_HU``).

    Args:
        hu: (Z, Y, X) HU.
    """
    smooth = ndimage.gaussian_filter(hu.astype(np.float32), (0, SMOOTHING_PIXELS, SMOOTHING_PIXELS))
    mask = (smooth > SOFT_TISSUE_HU[0]) & (smooth < SOFT_TISSUE_HU[1])
    short = mask.reshape(len(mask), -1).sum(axis=1) < MIN_MASK_PIXELS
    mask[short] = smooth[short] > BODY_HU
    return mask


def draw_field(hu: np.ndarray, pixel_mm: float, kernel: str, seed: int) -> np.ndarray:
    """The simulator's noise for ``hu`` with ``kernel`` (its level not yet set), float32 HU.

    Args:
        hu: (Z, Y, X) HU, only read.
        pixel_mm: in-plane pixel size, mm.
        kernel: one of ``simulation.kernels.KERNELS``.
        seed: the draw's seed.
    """
    settings = DoseSimulation(dose=FIELD_DOSE, seed=seed, kernel=kernel)
    return simulate_low_dose_hu(hu, pixel_mm, settings) - hu.astype(np.float32)


def nearest_kernel(hu: np.ndarray, pixel_mm: float) -> str:
    """The simulator's kernel whose noise texture is nearest the scan's: added to the scan at its own level, it
    changes the estimated grain least (its middle slice decides).

    Args:
        hu: (Z, Y, X) HU, only read.
        pixel_mm: in-plane pixel size, mm.

    Returns:
        A kernel name; the default kernel's where the scan's grain cannot be measured (no flat soft tissue).
    """
    from .kernels import DEFAULT_KERNEL

    middle = np.ascontiguousarray(hu[len(hu) // 2:len(hu) // 2 + 1], dtype=np.float32)
    own = estimate_noise_std(middle)
    if not (np.isfinite(own.grain) and np.isfinite(own.std_hu)):
        return DEFAULT_KERNEL
    mask = soft_tissue(middle)
    change = {}
    for kernel in KERNELS:
        field = draw_field(middle, pixel_mm, kernel, 0)
        field *= own.std_hu / max(float(np.std(field[mask])), 1e-6)
        change[kernel] = abs(estimate_noise_std(middle + field).grain - own.grain)
    return min(change, key=change.get)


def noise_field(hu: np.ndarray, levels_hu: np.ndarray, pixel_mm: float, kernel: str, seed: int) -> np.ndarray:
    """A noise field for ``hu`` that raises each slice's estimated noise variance by that slice's level squared
    (``noise.estimate``, per slice): as the estimator sees it, noise of that level.

    Args:
        hu: (Z, Y, X) HU, only read.
        levels_hu: (Z,) the standard deviation wanted per slice, HU (finite, > 0).
        pixel_mm: in-plane pixel size, mm.
        kernel: the reconstruction kernel of the texture (``nearest_kernel``).
        seed: the draw's seed.

    Returns:
        (Z, Y, X) float32 HU.
    """
    field = draw_field(hu, pixel_mm, kernel, seed)
    mask = soft_tissue(hu)
    for index, (slice_field, slice_mask) in enumerate(zip(field, mask)):  # first the plain level, then the estimator's
        measured = float(np.std(slice_field[slice_mask])) if slice_mask.any() else float(np.std(slice_field))
        field[index] *= levels_hu[index] / measured if measured > 0 else 0.0
    own = estimate_noise_per_slice(hu).std_hu
    raised = estimate_noise_per_slice(hu + field).std_hu
    seen = np.sqrt(np.clip(raised ** 2 - own ** 2, 0.0, None))
    usable = np.isfinite(seen) & (seen > 0.25 * np.asarray(levels_hu))  # else the plain level stands
    factors = np.where(usable, np.asarray(levels_hu) / np.where(usable, seen, 1.0), 1.0)
    return (field * factors[:, None, None]).astype(np.float32)
