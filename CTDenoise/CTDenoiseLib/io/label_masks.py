"""Label-map masks (NRRD/NIfTI/...): pick one label, bring it onto an image's grid, refuse masks that cannot
define a region. Shared by the radiomics comparison and the image-quality evaluation."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ..errors import CTDenoiseError
from .volumes import Volume, read_volume

GEOMETRY_TOLERANCE = 1e-4  # relative, as SimpleITK's own physical-space checks


@dataclass(frozen=True)
class GridMask:
    array: np.ndarray  # bool, (z, y, x) on the image's grid
    label: int
    resampled: bool
    note: str  # empty, or what was done to the mask (for the report)


def same_grid(a: Volume, b: Volume) -> bool:
    return (a.array.shape == b.array.shape
            and np.allclose(a.spacing, b.spacing, rtol=GEOMETRY_TOLERANCE, atol=0)
            and np.allclose(a.origin, b.origin, rtol=0, atol=GEOMETRY_TOLERANCE * max(1.0, min(a.spacing)))
            and np.allclose(a.direction, b.direction, atol=GEOMETRY_TOLERANCE))


def choose_label(labels: np.ndarray, label: int | None, path: str | os.PathLike) -> int:
    present = [int(v) for v in labels if v != 0]
    if not present:
        raise CTDenoiseError(f"The mask '{path}' is empty: it has no non-zero voxel.",
                             "Draw or export the nodule segmentation into the label map first.")
    if label is None:
        if len(present) > 1:
            raise CTDenoiseError(f"The mask '{path}' holds several labels {present}.", "Choose one with --label.")
        return present[0]
    if label not in present:
        raise CTDenoiseError(f"Label {label} does not occur in the mask '{path}'; its labels are {present}.",
                             "Choose one of them with --label.")
    return label


def _grid_text(volume: Volume) -> str:
    size = "x".join(str(n) for n in volume.array.shape[::-1])
    return f"{size} voxels at {'x'.join(f'{s:.3g}' for s in volume.spacing)} mm"


def resample_nearest(mask: Volume, image: Volume) -> np.ndarray:
    """``mask`` (any integer label map) on ``image``'s grid by nearest neighbour; outside the mask is 0."""
    target = sitk.Image([int(n) for n in image.array.shape[::-1]], sitk.sitkUInt8)
    target.SetSpacing(image.spacing)
    target.SetOrigin(image.origin)
    target.SetDirection(image.direction)
    moved = sitk.Resample(mask.to_sitk(), target, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    return sitk.GetArrayFromImage(moved)


def mask_on_grid(mask: Volume, image: Volume, label: int | None, path: str | os.PathLike = "mask") -> GridMask:
    """The voxels of ``label`` in ``mask`` on ``image``'s grid; CTDenoiseError for an empty, disjoint or one-voxel
    mask (no texture, and no statistics, can be computed on one voxel)."""
    chosen = choose_label(np.unique(mask.array), label, path)
    if same_grid(mask, image):
        region, resampled, note = mask.array == chosen, False, ""
    else:
        region = resample_nearest(mask.with_array((mask.array == chosen).astype(np.uint8)), image) > 0
        resampled = True
        note = (f"mask '{path}' was resampled with nearest neighbour from {_grid_text(mask)} "
                f"onto the image grid ({_grid_text(image)})")
        if not region.any():
            raise CTDenoiseError(f"The mask '{path}' (label {chosen}) does not overlap the image.",
                                 "Check that mask and image come from the same scan and patient position.")
    count = int(region.sum())
    if count == 1:
        raise CTDenoiseError(f"The mask '{path}' (label {chosen}) covers a single voxel on the image grid.",
                             "Radiomics and region statistics need a region of at least 2 voxels; "
                             "draw the whole nodule.")
    return GridMask(region, chosen, resampled, note)


def read_mask(path: str | os.PathLike, image: Volume, label: int | None = None) -> GridMask:
    return mask_on_grid(read_volume(path), image, label, path)
