"""``ctdenoise denoise --preview``: one axial slice of the input, the output and their difference, in a soft-tissue
and a lung window, so that a denoised file can be checked at a glance before anyone reads it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CTDenoiseError
from ..io.volumes import Volume, extension_of
from .slice_panels import Panel, display_slice, slice_figure


@dataclass(frozen=True)
class PreviewRequest:
    """Where a denoised file's preview goes and which slice it shows.

    Attributes:
        path: the PNG file.
        slice_index: the input's axial slice, 0-based; None: the middle one.
    """

    path: Path
    slice_index: int | None = None


def preview_path_for(output: Path, preview_dir: Path) -> Path:
    """Batch mode's naming rule: ``preview_dir/<output file name without its volume extension>.png``; batch
    outputs have unique names, so their previews do too.

    Args:
        output: the denoised file (or DICOM series folder).
        preview_dir: the folder given to ``--preview``.
    """
    suffix = extension_of(output)
    return preview_dir / f"{output.name[: len(output.name) - len(suffix)]}.png"


def preview_slice(slices: int, requested: int | None) -> int:
    """The slice to show: ``requested`` (0-based) or the middle one.

    Args:
        slices: the input's number of axial slices.
        requested: the chosen slice, or None.

    Raises:
        CTDenoiseError: ``requested`` is outside the volume.
    """
    if requested is None:
        return slices // 2
    if not 0 <= requested < slices:
        raise CTDenoiseError(f"--preview-slice {requested} is outside this volume's {slices} slices.",
                             f"Give 0..{slices - 1} (the default is the middle one, {slices // 2}).")
    return requested


def write_preview(request: PreviewRequest, volume: Volume, output: np.ndarray, caption: str) -> Path:
    """Input | output | output - input, in the soft-tissue and lung windows, as one PNG (written atomically).

    Args:
        request: the file and the slice.
        volume: the input (HU), whose geometry orients and scales the panels.
        output: the denoised volume (HU), the input's shape or a whole multiple of its slices (z-upscaling
            networks: the output slice at the centre of the input slice is shown).
        caption: what made the output (model, precision, strength, noise, seconds).

    Returns:
        The PNG's path.
    """
    index = preview_slice(volume.array.shape[0], request.slice_index)
    factor = output.shape[0] // volume.array.shape[0]
    before = display_slice(volume.array, index, volume.direction).astype(np.float32)
    after = display_slice(output, index * factor + factor // 2, volume.direction).astype(np.float32)
    panels = [Panel("input", before), Panel("output", after), Panel("output - input", after, minus=before)]
    return slice_figure(panels, request.path, f"{caption}; axial slice {index} of 0..{volume.array.shape[0] - 1}.",
                        pixel_aspect=volume.spacing[1] / volume.spacing[0])

