"""Reading and writing CT volumes with their geometry; outputs are written atomically.

Arrays are indexed (z, y, x); spacing, origin and direction follow SimpleITK's (x, y, z) convention.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import SimpleITK as sitk

from ..errors import CTDenoiseError
from .atomic import PARTIAL_SUFFIX, atomic_write, process_partial_prefix, sweep_stale_partials
from .dicom_series import list_series, read_series, select_series
from .file_integrity import check_nifti_input, is_nifti, nifti_shortfall
from .file_modes import apply_default_mode
from .native_stderr import native_stderr_to_log

OUTPUT_EXTENSIONS = (".nrrd", ".nii", ".nii.gz", ".mha")
# ITK picks a reader by the extension as spelled; for another spelling of a known one it is named explicitly
IMAGE_IO = {".nrrd": "NrrdImageIO", ".nhdr": "NrrdImageIO", ".nii": "NiftiImageIO", ".nii.gz": "NiftiImageIO",
            ".mha": "MetaImageIO", ".mhd": "MetaImageIO"}
VOLUME_EXTENSIONS = tuple(IMAGE_IO)
MIN_SLICES = 3
ORTHOGONALITY_TOLERANCE = 1e-4  # |cos| of the angle between two axes
SPECIAL_FILES = ((stat.S_ISFIFO, "named pipe (FIFO)"), (stat.S_ISCHR, "character device"),
                 (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))


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


def _spelled_extension(path: Path) -> str:
    """The extension as the name spells it (``.Nii``, ``.nii.GZ``)."""
    return path.name[len(path.name) - len(extension_of(path)):]


def _special_file_kind(path: Path) -> str:
    """What ``path`` is when it exists but is neither a regular file nor a folder (links followed); else empty."""
    mode = os.stat(path).st_mode
    return next((kind for test, kind in SPECIAL_FILES if test(mode)), "")


def _check_input_file(path: Path) -> str:
    """Refuse, without opening it, an INPUT that is not a regular file; return the ImageIO to read it with
    (empty: ITK picks by the name)."""
    kind = _special_file_kind(path)
    if kind:
        raise CTDenoiseError(f"Input '{path}' is a {kind}, not a file.",
                             "Give the image file itself (NRRD, NIfTI, MHA/MHD) or a DICOM series folder.")
    extension, spelled = extension_of(path), _spelled_extension(path)
    if spelled == extension or extension not in IMAGE_IO:
        return ""
    if is_nifti(path) and spelled not in (extension, extension.upper()):
        raise CTDenoiseError(f"Input '{path}': NIfTI readers accept '{extension}' in lower or upper case only, "
                             f"not '{spelled}'.", f"Rename it to '{path.name[:-len(spelled)]}{extension}'.")
    return IMAGE_IO[extension]


def _check_input_folder(path: Path) -> None:
    """Refuse a folder named like a volume file (``scan.nrrd/``) that is not a DICOM series."""
    if extension_of(path) in VOLUME_EXTENSIONS and not list_series(path):
        raise CTDenoiseError(f"Input '{path}' is a folder, not a volume file, and holds no DICOM series.",
                             "Give the image file itself, or a folder holding one DICOM series.")


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
        _check_input_folder(path)
        image = _guarded_read(path, lambda: read_series(path, series))
    else:
        image_io = _check_input_file(path)
        if is_nifti(path):
            check_nifti_input(path)  # SimpleITK would zero-fill a truncated file
        image = _guarded_read(path, lambda: sitk.ReadImage(str(path), imageIO=image_io))
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
        _check_input_folder(path)
        select_series(path, series)
        return
    image_io = _check_input_file(path)
    if is_nifti(path):
        check_nifti_input(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.SetImageIO(image_io)

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


def check_folder_option(path: str | os.PathLike, option: str = "--output-dir") -> Path:
    """Refuse, before any work, an output folder that is an existing file.

    Args:
        path: the folder, to be created when the results are written.
        option: how the message names it.

    Returns:
        The folder as a Path.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CTDenoiseError(f"{option} '{path}' is a file, not a folder.", "Give a folder (it is created if missing).")
    return path


def make_output_folder(path: str | os.PathLike, option: str = "--output-dir") -> Path:
    """Create an output folder (and its parents) or refuse in one line: it is a file, or cannot be created.

    Args:
        path: the folder.
        option: how the message names it.

    Returns:
        The folder as a Path.
    """
    path = check_folder_option(path, option)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CTDenoiseError(f"Cannot create the folder '{path}' ({error.strerror or error}).",
                             "Choose a folder you can write to.") from error
    return path


def check_output_path(path: str | os.PathLike, inputs: tuple[str | os.PathLike, ...] = ()) -> Path:
    """Fail before any work if OUTPUT cannot be written, could not be read back under its name, or would
    overwrite an input."""
    path = Path(path)
    if extension_of(path) not in OUTPUT_EXTENSIONS:
        raise CTDenoiseError(f"Unsupported output type '{path.name}'.",
                             f"Use one of: {', '.join(OUTPUT_EXTENSIONS)}.")
    spelled = _spelled_extension(path)
    if spelled != extension_of(path):
        raise CTDenoiseError(f"Output '{path}': ITK and 3D Slicer cannot read every type back under an extension "
                             f"that is not lower case ('{spelled}').",
                             f"Name it '{path.name[:-len(spelled)]}{extension_of(path)}'.")
    if path.exists() and _special_file_kind(path):
        raise CTDenoiseError(f"Output '{path}' is a {_special_file_kind(path)}, not a file.",
                             "Choose another output path; only regular files are replaced.")
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


def check_format_holds(volume: Volume, path: str | os.PathLike) -> None:
    """Refuse geometry the output's file type cannot hold, rather than let ITK approximate it: NIfTI stores only
    perpendicular axes, and ITK's writer straightens sheared ones (a gantry-tilted stack) without an error.

    Args:
        volume: what would be written (its spacing and direction).
        path: the output file; its extension names the type.
    """
    if not is_nifti(path):
        return
    axes = np.asarray(volume.direction, dtype=np.float64).reshape(3, 3)
    axes = axes / np.linalg.norm(axes, axis=0)
    cosines = np.abs(axes.T @ axes - np.eye(3))
    if cosines.max() > ORTHOGONALITY_TOLERANCE:
        first, second = np.unravel_index(int(np.argmax(cosines)), cosines.shape)
        angle = float(np.degrees(np.arccos(np.clip(abs(axes[:, first] @ axes[:, second]), 0.0, 1.0))))
        raise CTDenoiseError(f"The volume's axes meet at {angle:.1f} degrees, not 90 (a sheared grid); NIfTI cannot "
                             f"hold that and ITK would straighten it silently, moving voxels.",
                             f"Write '{Path(path).name}' as .nrrd or .mha instead, which keep the geometry exactly.")


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
    checks its output once, before it reads the input); the geometry is still checked against what the format
    can hold (``check_format_holds``).

    Args:
        volume: what to write.
        path: the checked output file.
    """
    check_format_holds(volume, path)
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
