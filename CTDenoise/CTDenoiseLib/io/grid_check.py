"""Do two volumes lie on the same grid? Comparing shapes is not enough: an oblique image against an axial reference
of the same shape scored SSIM 1 voxel by voxel. Spacing, origin and direction are compared too."""

from __future__ import annotations

import numpy as np

from ..errors import CTDenoiseError
from .volumes import Volume

RELATIVE_SPACING = 1e-3  # of the spacing
ORIGIN_VOXELS = 0.01  # of a voxel, along each axis
DIRECTION = 1e-4  # per direction-cosine component


def grid_difference(reference: Volume, other: Volume) -> str:
    """Empty if ``other`` lies on ``reference``'s grid; otherwise the first difference, in words.

    Args:
        reference: the volume whose grid counts.
        other: the volume compared with it.
    """
    if other.array.shape != reference.array.shape:
        return f"its shape {other.array.shape} differs from the reference's {reference.array.shape} (z, y, x)"
    spacing, other_spacing = np.asarray(reference.spacing), np.asarray(other.spacing)
    if not np.allclose(other_spacing, spacing, rtol=RELATIVE_SPACING, atol=0):
        return (f"its spacing {tuple(np.round(other_spacing, 4))} differs from the reference's "
                f"{tuple(np.round(spacing, 4))} mm")
    if not np.allclose(other.direction, reference.direction, rtol=0, atol=DIRECTION):
        return (f"its direction {tuple(np.round(other.direction, 4))} differs from the reference's "
                f"{tuple(np.round(reference.direction, 4))} (e.g. oblique against axial)")
    offset = np.abs(np.asarray(other.origin) - np.asarray(reference.origin))
    if np.any(offset > ORIGIN_VOXELS * spacing):
        return f"its origin is {tuple(np.round(offset, 3))} mm away from the reference's"
    return ""


def check_same_grid(reference: Volume, other: Volume, name: str) -> None:
    """Refuse ``other`` when it does not lie on ``reference``'s grid.

    Args:
        reference: the volume whose grid counts.
        other: the volume compared with it.
        name: how the message names ``other``.
    """
    difference = grid_difference(reference, other)
    if difference:
        raise CTDenoiseError(f"{name} is not on the reference's grid: {difference}.",
                             "Compare volumes on the same grid: resample one onto the other first "
                             "(denoising keeps the input's grid).")
