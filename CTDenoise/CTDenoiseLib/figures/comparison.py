"""``ctdenoise compare``: one axial slice of several volumes on one grid, side by side in a soft-tissue and a lung
window, each panel headed by its PSNR/SSIM against a reference when one is given (the convention of
``ctdenoise evaluate``), and optionally a zoomed row around a region such as a nodule."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import CTDenoiseError
from ..evaluation.metrics import QUALITY_WINDOW
from ..evaluation.quality import psnr_ssim, valid_voxels
from ..io.grid_check import grid_difference
from ..io.volumes import Volume
from .slice_panels import Panel, display_slice, slice_figure, zoom_box


@dataclass(frozen=True)
class Scored:
    """One compared volume.

    Attributes:
        label: its name in the figure.
        psnr_db: PSNR against the reference, dB (nan without a reference).
        ssim: SSIM against the reference (nan without a reference).
    """

    label: str
    psnr_db: float = float("nan")
    ssim: float = float("nan")


def check_one_grid(volumes: list[Volume], labels: list[str]) -> None:
    """Refuse, in one line, volumes that do not all lie on the first one's grid (shape, spacing, direction, origin).

    Args:
        volumes: the volumes, the grid of the first one counting.
        labels: their names, for the message.
    """
    for volume, label in zip(volumes[1:], labels[1:]):
        difference = grid_difference(volumes[0], volume)
        if difference:
            raise CTDenoiseError(f"'{label}' is not on the grid of '{labels[0]}': {difference}.",
                                 "Compare volumes on one grid (denoising and simulation keep the input's grid); "
                                 "resample one onto the other first.")


def region_slice(region: np.ndarray) -> int:
    """The axial slice where ``region`` has the most voxels (a nodule's widest cross-section).

    Args:
        region: boolean (z, y, x), not empty.
    """
    return int(np.argmax(region.reshape(region.shape[0], -1).sum(axis=1)))


def compare_figure(volumes: list[Volume], labels: list[str], path: str | os.PathLike,
                   reference: Volume | None = None, reference_label: str = "reference",
                   slice_index: int | None = None, region: np.ndarray | None = None) -> list[Scored]:
    """Write the comparison PNG (atomically) and return each volume's scores.

    Args:
        volumes: the volumes compared, left to right, on one grid.
        labels: their names.
        path: the PNG file.
        reference: the normal-dose volume, on the same grid: shown last, and every other panel is scored against
            it (3D PSNR/SSIM of the whole volume as ``ctdenoise evaluate`` computes them); None: no scores.
        reference_label: its name.
        slice_index: the axial slice shown, 0-based; None: the region's widest slice, else the middle one.
        region: boolean (z, y, x) on the grid (a nodule): a zoomed row per window around it on the slice shown.

    Returns:
        One ``Scored`` per volume (not the reference), in order.

    Raises:
        CTDenoiseError: the volumes are not on one grid, or the slice is outside them, or the region is empty on it.
    """
    every = volumes + ([reference] if reference is not None else [])
    check_one_grid(every, labels + ([reference_label] if reference is not None else []))
    slices = volumes[0].array.shape[0]
    if slice_index is None:
        slice_index = region_slice(region) if region is not None and region.any() else slices // 2
    elif not 0 <= slice_index < slices:
        raise CTDenoiseError(f"--slice {slice_index} is outside these volumes' {slices} slices.",
                             f"Give 0..{slices - 1} (the default is the middle one, {slices // 2}).")
    zoom = None
    if region is not None:
        on_slice = display_slice(region, slice_index, volumes[0].direction)
        if not on_slice.any():
            raise CTDenoiseError(f"The zoom region has no voxel on slice {slice_index}.",
                                 "Leave --slice out (the region's widest slice is shown) or choose a slice it covers.")
        zoom = zoom_box(on_slice)
    scored = []
    valid = valid_voxels(reference.array) if reference is not None else None
    for volume, label in zip(volumes, labels):
        scores = psnr_ssim(reference.array, volume.array, valid) if reference is not None else {}
        scored.append(Scored(label, scores.get("psnr_db", float("nan")), scores.get("ssim", float("nan"))))
    titles = [label if np.isnan(s.psnr_db) else f"{label}\nPSNR {s.psnr_db:.2f} dB, SSIM {s.ssim:.4f}"
              for label, s in zip(labels, scored)] + ([reference_label] if reference is not None else [])
    panels = [Panel(title, display_slice(volume.array, slice_index, volumes[0].direction).astype(np.float32))
              for title, volume in zip(titles, every)]
    spacing = volumes[0].spacing
    caption = (f"Axial slice {slice_index} of 0..{slices - 1}, every panel of a row in the same window"
               + (f"; PSNR/SSIM of each whole volume against '{reference_label}': 3D, HU "
                  f"{QUALITY_WINDOW[0]:.0f}..{QUALITY_WINDOW[1]:.0f} (ctdenoise evaluate's convention)"
                  if reference is not None else "") + ".")
    slice_figure(panels, path, caption, pixel_aspect=spacing[1] / spacing[0], zoom=zoom)
    return scored


def labels_for(paths: list[str | os.PathLike], given: list[str] | None) -> list[str]:
    """The panels' names: ``given`` (one per path) or the files' stems.

    Args:
        paths: the volumes' files.
        given: names chosen on the command line, or None.
    """
    from ..io.file_labels import file_labels

    if given is None:
        return file_labels(paths)
    if len(given) != len(paths):
        raise CTDenoiseError(f"--labels gives {len(given)} name(s) for {len(paths)} volume(s).",
                             "Give one name per volume, in the same order.")
    return list(given)

