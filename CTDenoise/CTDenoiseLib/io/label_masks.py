"""Label-map masks (NRRD/NIfTI/...): pick one label, bring it onto an image's grid, refuse masks that cannot
define a region. Shared by the radiomics comparison and the image-quality evaluation.

Labels are whole numbers: a float mask holding 0.7 would otherwise become label ``int(0.7) = 0``, the
background. A mask on another grid may reach beyond the image; the part outside cannot be measured, so it is
refused (radiomics: the features would be those of a cut region) or its fraction stated (region statistics).
"""

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
    outside_fraction: float = 0.0  # of the label's voxels, lying outside the image (not in ``array``)


def same_grid(a: Volume, b: Volume) -> bool:
    return (a.array.shape == b.array.shape
            and np.allclose(a.spacing, b.spacing, rtol=GEOMETRY_TOLERANCE, atol=0)
            and np.allclose(a.origin, b.origin, rtol=0, atol=GEOMETRY_TOLERANCE * max(1.0, min(a.spacing)))
            and np.allclose(a.direction, b.direction, atol=GEOMETRY_TOLERANCE))


def check_whole_labels(labels: np.ndarray, path: str | os.PathLike) -> None:
    """Refuse a mask whose values are not whole numbers, naming them.

    Args:
        labels: the mask's distinct values.
        path: the mask as the message names it.
    """
    if labels.dtype.kind != "f":
        return
    fractional = labels[~np.isfinite(labels) | (labels != np.round(labels))]
    if fractional.size:
        shown = ", ".join(f"{value:g}" for value in fractional[:5]) + (" ..." if fractional.size > 5 else "")
        raise CTDenoiseError(f"The mask '{path}' holds non-integer values ({shown}); a label map holds whole numbers "
                             "(0 for the background).",
                             "Export the segmentation as a label map (an integer type), or threshold it first.")


def choose_label(labels: np.ndarray, label: int | None, path: str | os.PathLike) -> int:
    check_whole_labels(labels, path)
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


def outside_fraction(labelled: Volume, image: Volume) -> float:
    """The fraction of ``labelled``'s non-zero voxels whose centres lie outside ``image``'s voxels.

    Args:
        labelled: a 0/1 mask on its own grid.
        image: the volume it is measured on.
    """
    inside = resample_nearest(image.with_array(np.ones(image.array.shape, np.uint8)), labelled) > 0
    chosen = labelled.array > 0
    return float(np.count_nonzero(chosen & ~inside) / max(1, np.count_nonzero(chosen)))


def mask_on_grid(mask: Volume, image: Volume, label: int | None, path: str | os.PathLike = "mask",
                 refuse_outside: bool = True) -> GridMask:
    """The voxels of ``label`` in ``mask`` on ``image``'s grid; CTDenoiseError for a non-integer, empty, disjoint
    or one-voxel mask (no texture, and no statistics, can be computed on one voxel).

    Args:
        mask: the label map.
        image: the volume the region is measured on.
        label: the label to take; None: the mask's only one.
        path: the mask as messages name it.
        refuse_outside: refuse a label partly outside the image (else its outside fraction is in the note).
    """
    chosen = choose_label(np.unique(mask.array), label, path)
    outside = 0.0
    if same_grid(mask, image):
        region, resampled, note = mask.array == chosen, False, ""
    else:
        labelled = mask.with_array((mask.array == chosen).astype(np.uint8))
        region = resample_nearest(labelled, image) > 0
        resampled = True
        note = (f"mask '{path}' was resampled with nearest neighbour from {_grid_text(mask)} "
                f"onto the image grid ({_grid_text(image)})")
        if not region.any():
            raise CTDenoiseError(f"The mask '{path}' (label {chosen}) does not overlap the image.",
                                 "Check that mask and image come from the same scan and patient position.")
        outside = outside_fraction(labelled, image)
        if outside > 0:
            where = f"{outside:.0%} of label {chosen} of mask '{path}' lies outside the image"
            if refuse_outside:
                raise CTDenoiseError(f"{where}: only the rest could be measured, as if the region were cut there.",
                                     "Give the image the mask was drawn on (or a larger one), or a mask inside it.")
            note += f"; {where} and is not measured"
    count = int(region.sum())
    if count == 1:
        raise CTDenoiseError(f"The mask '{path}' (label {chosen}) covers a single voxel on the image grid.",
                             "Radiomics and region statistics need a region of at least 2 voxels; "
                             "draw the whole nodule.")
    return GridMask(region, chosen, resampled, note, outside)


def read_mask(path: str | os.PathLike, image: Volume, label: int | None = None,
              refuse_outside: bool = True) -> GridMask:
    """``mask_on_grid`` of the label map at ``path``.

    Args:
        path: the label map file.
        image: the volume the region is measured on.
        label: the label to take; None: the mask's only one.
        refuse_outside: as in ``mask_on_grid``.
    """
    return mask_on_grid(read_volume(path), image, label, path, refuse_outside)
