"""Reading and writing CT volumes with their geometry; outputs are written atomically.

Arrays are indexed (z, y, x); spacing, origin and direction follow SimpleITK's (x, y, z) convention.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import SimpleITK as sitk

from ..errors import CTDenoiseError
from .atomic import PARTIAL_SUFFIX, atomic_write, process_partial_prefix, sweep_stale_partials
from .dicom_series import read_series, select_series
from .file_integrity import check_nifti_input, is_nifti, nifti_shortfall
from .file_modes import apply_default_mode
from .native_stderr import native_stderr_to_log

OUTPUT_EXTENSIONS = (".nrrd", ".nii", ".nii.gz", ".mha")
MIN_SLICES = 3


@dataclass(frozen=True)
class Volume:
    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    metadata: tuple[tuple[str, str], ...] = ()  # (key, value) pairs written into the file's header (NRRD keeps them)

    def with_array(self, array: np.ndarray) -> "Volume":
        """The same geometry with another array of the same shape.

        Args:
            array: the new voxels.

        Raises:
            ValueError: the shapes differ.
        """
        if array.shape != self.array.shape:
            raise ValueError(f"shape {array.shape} differs from the volume's {self.array.shape}")
        return replace(self, array=array)

    def to_sitk(self) -> sitk.Image:
        """The volume as a SimpleITK image, its metadata in the header."""
        image = sitk.GetImageFromArray(self.array)
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        for key, value in self.metadata:
            image.SetMetaData(key, value)
        return image

    @classmethod
    def from_sitk(cls, image: sitk.Image) -> "Volume":
        """A volume of a SimpleITK image's voxels and geometry (no metadata).

        Args:
            image: a 3D image.
        """
        return cls(array=sitk.GetArrayFromImage(image), spacing=tuple(image.GetSpacing()),
                   origin=tuple(image.GetOrigin()), direction=tuple(image.GetDirection()))


def extension_of(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def read_volume(path: str | os.PathLike, series: str | None = None) -> Volume:
    """Read a 3D scalar volume (NRRD, NIfTI, MHA/MHD or a DICOM series folder) without changing it.

    Args:
        path: an image file, or a folder holding a DICOM series.
        series: for a folder holding several DICOM series, the SeriesInstanceUID (or 1-based number) to read.
    """
    path = Path(path)
    if not path.exists():
        raise CTDenoiseError(f"Input not found: '{path}'.", "Check the path and that the file or folder exists.")
    if path.is_dir():
        image = _guarded_read(path, lambda: read_series(path, series))
    else:
        if is_nifti(path):
            check_nifti_input(path)  # SimpleITK would zero-fill a truncated file
        image = _guarded_read(path, lambda: sitk.ReadImage(str(path)))
    _check_layout(path, image.GetNumberOfComponentsPerPixel(), tuple(image.GetSize()))
    return Volume.from_sitk(image)


def _check_layout(path: Path, components: int, size: tuple[int, ...]) -> None:
    if components != 1:
        raise CTDenoiseError(f"'{path}' has {components} components per voxel (colour or vector image).",
                             "CTDenoise needs a single-channel CT volume in Hounsfield units.")
    if len(size) != 3:
        raise CTDenoiseError(f"'{path}' is a {len(size)}D image of size {size}.",
                             f"CTDenoise needs a 3D CT volume with at least {MIN_SLICES} slices.")
    if size[2] < MIN_SLICES:
        raise CTDenoiseError(f"'{path}' has only {size[2]} slice(s).",
                             f"CTDenoise needs a 3D CT volume with at least {MIN_SLICES} slices.")


def check_input(path: str | os.PathLike, series: str | None = None) -> None:
    """The cheap checks of ``read_volume`` (the file exists, its header says a one-channel 3D volume; a DICOM
    folder holds the chosen series), to fail in a second before a model is loaded.

    Args:
        path: an image file or a DICOM series folder.
        series: as in ``read_volume``.
    """
    path = Path(path)
    if not path.exists():
        raise CTDenoiseError(f"Input not found: '{path}'.", "Check the path and that the file or folder exists.")
    if path.is_dir():
        select_series(path, series)
        return
    if is_nifti(path):
        check_nifti_input(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))

    def information() -> sitk.ImageFileReader:
        reader.ReadImageInformation()
        return reader

    _guarded_read(path, information)
    _check_layout(path, reader.GetNumberOfComponents(), tuple(reader.GetSize()))


def _guarded_read(path: Path, read: Callable[[], Any]) -> Any:
    """``read()`` with ITK's native warnings sent to the log and its errors turned into one clear line."""
    try:
        with native_stderr_to_log():
            return read()
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown reader error"
        raise CTDenoiseError(f"Cannot read '{path}' as an image ({first_line}).",
                             "Supported: NRRD, NIfTI, MHA/MHD, or a DICOM series folder.") from error


def check_parent_writable(path: str | os.PathLike) -> Path:
    """The folder ``path`` would be created in, refused in one line if it is missing or not writable.

    Args:
        path: an output file or folder to be created.

    Returns:
        The parent folder (``.`` for a bare name).

    Raises:
        CTDenoiseError: the parent folder does not exist or is not writable.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise CTDenoiseError(f"Output folder '{parent}' does not exist.", "Create it or choose another output path.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CTDenoiseError(f"Output folder '{parent}' is not writable.", "Choose a folder you can write to.")
    return parent


def check_output_path(path: str | os.PathLike, inputs: tuple[str | os.PathLike, ...] = ()) -> Path:
    """Fail before any work if OUTPUT cannot be written or would overwrite an input."""
    path = Path(path)
    if extension_of(path) not in OUTPUT_EXTENSIONS:
        raise CTDenoiseError(f"Unsupported output type '{path.name}'.",
                             f"Use one of: {', '.join(OUTPUT_EXTENSIONS)}.")
    for source in inputs:
        if Path(source).exists() and path.exists() and os.path.samefile(source, path):
            raise CTDenoiseError(f"Output '{path}' is the input file.",
                                 "Choose another output path; inputs are never overwritten.")
    check_parent_writable(path)
    if path.is_dir():
        raise CTDenoiseError(f"Output '{path}' is a folder.", "Give a file name such as out.nrrd.")
    return path


    return True


def verify_written(written: Path, volume: Volume, shown_as: Path) -> None:
    """Read back what was written before it replaces anything: a short write (a full disk) is refused.

    Args:
        written: the temporary file just written.
        volume: what was meant to be in it.
        shown_as: the output path the message names.
    """
    problem = nifti_shortfall(written) if is_nifti(shown_as) else ""
    if not problem:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(written))
        try:
            with native_stderr_to_log():
                reader.ReadImageInformation()
            size = tuple(reader.GetSize())
            if size != volume.array.shape[::-1]:
                problem = f"it reads back as {size} voxels instead of {volume.array.shape[::-1]}"
        except RuntimeError as error:
            problem = f"it cannot be read back ({str(error).strip().splitlines()[-1]})"
    if problem:
        raise CTDenoiseError(f"Writing '{shown_as}' failed: {problem}; nothing was replaced.",
                             "Check free disk space and quotas, then run again.")


def write_volume(volume: Volume, path: str | os.PathLike) -> Path:
    """Write next to the target under a temporary name, check it, then rename: readers never see a partial file
    and a failed write (a full disk) never replaces a good output.

    Args:
        volume: what to write.
        path: the output file, checked first (``check_output_path``).
    """
    return write_checked_volume(volume, check_output_path(path))


def write_checked_volume(volume: Volume, path: Path) -> Path:
    """``write_volume`` to a path that ``check_output_path`` has returned, not checked again (``denoise_with``
    checks its output once, before it reads the input).

    Args:
        volume: what to write.
        path: the checked output file.
    """
    extension = extension_of(path)
    sweep_stale_partials(path)
    handle, temporary = tempfile.mkstemp(prefix=process_partial_prefix(path), suffix=f"{PARTIAL_SUFFIX}{extension}",
                                         dir=path.parent)
    os.close(handle)
    try:
        with atomic_write(path, temporary) as partial:
            with native_stderr_to_log():
                sitk.WriteImage(volume.to_sitk(), str(partial), useCompression=True)
            verify_written(partial, volume, path)
            apply_default_mode(partial)
    except RuntimeError as error:
        raise CTDenoiseError(f"Cannot write '{path}' ({str(error).strip().splitlines()[-1]}).",
                             "Check free disk space and permissions.") from error
    return path
