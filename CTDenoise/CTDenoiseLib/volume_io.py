"""Reading and writing CT volumes with their geometry; outputs are written atomically.

Arrays are indexed (z, y, x); spacing, origin and direction follow SimpleITK's (x, y, z) convention.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import CTDenoiseError
from .file_modes import apply_default_mode

OUTPUT_EXTENSIONS = (".nrrd", ".nii", ".nii.gz", ".mha")
MIN_SLICES = 3


@dataclass(frozen=True)
class Volume:
    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]

    def with_array(self, array: np.ndarray) -> "Volume":
        if array.shape != self.array.shape:
            raise ValueError(f"shape {array.shape} differs from the volume's {self.array.shape}")
        return replace(self, array=array)

    def to_sitk(self) -> sitk.Image:
        image = sitk.GetImageFromArray(self.array)
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image

    @classmethod
    def from_sitk(cls, image: sitk.Image) -> "Volume":
        return cls(array=sitk.GetArrayFromImage(image), spacing=tuple(image.GetSpacing()),
                   origin=tuple(image.GetOrigin()), direction=tuple(image.GetDirection()))


def extension_of(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _read_dicom_series(folder: Path) -> sitk.Image:
    series_ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    if not series_ids:
        raise CTDenoiseError(f"No DICOM series found in folder '{folder}'.",
                             "Point INPUT at a folder of DICOM files, or at an NRRD/NIfTI/MHA file.")
    # Several series in one folder: take the one with the most slices (the main acquisition).
    files = max((sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), sid) for sid in series_ids), key=len)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    return reader.Execute()


def read_volume(path: str | os.PathLike) -> Volume:
    """Read a 3D scalar volume (NRRD, NIfTI, MHA/MHD or a DICOM series folder) without changing it."""
    path = Path(path)
    if not path.exists():
        raise CTDenoiseError(f"Input not found: '{path}'.", "Check the path and that the file or folder exists.")
    try:
        image = _read_dicom_series(path) if path.is_dir() else sitk.ReadImage(str(path))
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown reader error"
        raise CTDenoiseError(f"Cannot read '{path}' as an image ({first_line}).",
                             "Supported: NRRD, NIfTI, MHA/MHD, or a DICOM series folder.") from error
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise CTDenoiseError(
            f"'{path}' has {image.GetNumberOfComponentsPerPixel()} components per voxel (colour or vector image).",
            "CTDenoise needs a single-channel CT volume in Hounsfield units.")
    if image.GetDimension() != 3:
        raise CTDenoiseError(f"'{path}' is a {image.GetDimension()}D image of size {image.GetSize()}.",
                             f"CTDenoise needs a 3D CT volume with at least {MIN_SLICES} slices.")
    if image.GetSize()[2] < MIN_SLICES:
        raise CTDenoiseError(f"'{path}' has only {image.GetSize()[2]} slice(s).",
                             f"CTDenoise needs a 3D CT volume with at least {MIN_SLICES} slices.")
    return Volume.from_sitk(image)


def check_output_path(path: str | os.PathLike, inputs: tuple[str | os.PathLike, ...] = ()) -> Path:
    """Fail before any work if OUTPUT cannot be written or would overwrite an input."""
    path = Path(path)
    if extension_of(path) not in OUTPUT_EXTENSIONS:
        raise CTDenoiseError(f"Unsupported output type '{path.name}'.",
                             f"Use one of: {', '.join(OUTPUT_EXTENSIONS)}.")
    for source in inputs:
        if Path(source).exists() and path.exists() and os.path.samefile(source, path):
            raise CTDenoiseError(f"Output '{path}' is the input file.", "Choose another output path; inputs are never overwritten.")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise CTDenoiseError(f"Output folder '{parent}' does not exist.", "Create it or choose another output path.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CTDenoiseError(f"Output folder '{parent}' is not writable.", "Choose a folder you can write to.")
    if path.is_dir():
        raise CTDenoiseError(f"Output '{path}' is a folder.", "Give a file name such as out.nrrd.")
    return path


def write_volume(volume: Volume, path: str | os.PathLike) -> Path:
    """Write next to the target under a temporary name, then rename: readers never see a partial file."""
    path = check_output_path(path)
    extension = extension_of(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".partial{extension}", dir=path.parent)
    os.close(handle)
    try:
        sitk.WriteImage(volume.to_sitk(), temporary, useCompression=True)
        apply_default_mode(temporary)
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, RuntimeError):
            raise CTDenoiseError(f"Cannot write '{path}' ({str(error).strip().splitlines()[-1]}).",
                                 "Check free disk space and permissions.") from error
        raise
    return path
