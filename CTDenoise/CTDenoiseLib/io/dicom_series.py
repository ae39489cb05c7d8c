"""Reading one DICOM series from a folder, refusing the cases where ITK would silently give a wrong volume:

* several series in the folder: ITK takes whichever it is asked for, so the caller must say which (``series``:
  its SeriesInstanceUID or its 1-based number in the listing the error prints);
* files GDCM leaves out: its folder listing stops at a broken link, and it drops a damaged slice; end slices
  dropped pass every spacing check. The folder is listed here too, and a broken link, a special file or a DICOM
  image in no listed series is refused by name; the slices read must be the files listed;
* slices that are not evenly spaced along the slice normal (a missing or unreadable slice, or a non-uniform
  series): ITK restacks them at one spacing and only prints a warning, mispositioning slices by up to a spacing.
  The positions (ImagePositionPatient projected on the normal of ImageOrientationPatient) are checked here and a
  gap is refused with where it is;
* a stack that is not a box: slices that shift in-plane from one to the next (gantry tilt) or images of another
  orientation or size in the series (a localizer). A volume has one origin, spacing and direction, so ITK would
  put every slice but the first away from its ImagePositionPatient (26 mm at a 20 degree tilt).
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import CTDenoiseError
from .native_stderr import native_stderr_to_log

SERIES_DESCRIPTION = "0008|103e"
POSITION, ORIENTATION = "0020|0032", "0020|0037"
# A step may differ from the series' mean step by this much (scanners write positions to about 1e-3 mm).
SPACING_TOLERANCE_MM, SPACING_TOLERANCE_FRACTION = 0.02, 0.02
SHEAR_TOLERANCE_MM = 0.05  # in-plane drift of the slice positions over the whole stack
ORIENTATION_TOLERANCE = 1e-4  # per direction cosine
DICOM_MAGIC_OFFSET, DICOM_MAGIC = 128, b"DICM"


@dataclass(frozen=True)
class SeriesInfo:
    uid: str
    description: str
    files: tuple[str, ...]

    def line(self, number: int) -> str:
        """The series as the refusal of an ambiguous folder lists it.

        Args:
            number: its 1-based place in the list (``--series`` takes it).
        """
        description = f"'{self.description}'" if self.description else "(no description)"
        return f"[{number}] {self.uid} {description} ({len(self.files)} slices)"


def _description(first_file: str) -> str:
    reader = sitk.ImageFileReader()
    reader.SetFileName(first_file)
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return "unreadable"
    return reader.GetMetaData(SERIES_DESCRIPTION).strip() if reader.HasMetaDataKey(SERIES_DESCRIPTION) else ""


def _is_dicom_file(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(DICOM_MAGIC_OFFSET)
        return handle.read(len(DICOM_MAGIC)) == DICOM_MAGIC


def _unlisted_problem(path: Path) -> str:
    """Why a file of the folder that GDCM put in no series may be a lost slice; empty if it cannot be one (not a
    DICOM file, or a DICOM file without an image such as a DICOMDIR or a structured report)."""
    import pydicom

    try:
        if not _is_dicom_file(path):
            return ""
        header = pydicom.dcmread(path, stop_before_pixels=True)
    except OSError as error:
        return f"'{path.name}' cannot be read ({error.strerror or error})"
    except Exception as error:  # pydicom raises several kinds for a damaged file
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"'{path.name}' is a DICOM file that cannot be read ({first})"
    if "Rows" in header:
        return f"'{path.name}' is a DICOM image that was not read (damaged or cut short)"
    return ""


def _check_folder_entries(folder: Path) -> None:
    """Refuse what would make GDCM stop listing or hang: a broken link or a special file (FIFO, device)."""
    for entry in sorted(os.scandir(folder), key=lambda item: item.name):
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            raise CTDenoiseError(f"DICOM folder '{folder}' holds a broken link '{entry.name}' (to "
                                 f"'{os.readlink(path)}', which is missing); GDCM stops listing the folder there, so "
                                 "slices would be left out.",
                                 "Restore the link's target, or remove the link.") from None
        except OSError as error:
            raise CTDenoiseError(f"DICOM folder '{folder}': '{entry.name}' cannot be read "
                                 f"({error.strerror or error}).", "Fix its permissions, or remove it.") from error
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise CTDenoiseError(f"DICOM folder '{folder}' holds '{entry.name}', which is not a file (a FIFO, "
                                 "socket or device); reading it could hang.", "Remove it from the folder.")


def _check_nothing_left_out(folder: Path, series: list[SeriesInfo]) -> None:
    """Refuse a folder holding a DICOM image that GDCM put in no series (a damaged slice: end slices pass every
    position check)."""
    listed = {Path(name).name for info in series for name in info.files}
    for entry in sorted(os.scandir(folder), key=lambda item: item.name):
        if entry.name.startswith(".") or entry.name in listed or not entry.is_file():
            continue
        problem = _unlisted_problem(Path(entry.path))
        if problem:
            raise CTDenoiseError(f"DICOM folder '{folder}': {problem}, so its slice would be missing or unreadable "
                                 "in the volume.", "Repair, fetch again or remove the file, then run again.")


def _folder_signature(folder: Path) -> tuple:
    """What changes when a file of ``folder`` is added, removed, replaced or rewritten (name, size, mtime, inode):
    a cheap stat of each entry, no file opened."""
    entries = []
    for entry in os.scandir(folder):
        try:
            info = entry.stat()
        except OSError:  # a broken link: list_series refuses it by name
            info = entry.stat(follow_symlinks=False)
        entries.append((entry.name, info.st_size, info.st_mtime_ns, info.st_ino))
    return tuple(sorted(entries))


# The last folder listed, with its signature: the main path checks a folder before loading a model, reads it, and
# copies its headers into a DICOM output, and GDCM's listing reads every file's header each time.
_last_listing: dict[str, tuple[tuple, list]] = {}


def list_series(folder: Path) -> list[SeriesInfo]:
    """The DICOM series in ``folder`` (not its sub-folders), in GDCM's order, after checking that GDCM left no
    file of the folder out (a broken link, a special file, a damaged DICOM image). Listed once while the folder's
    files stay the same (checked by a stat of each).

    Args:
        folder: a folder of DICOM files.
    """
    key = str(Path(folder).resolve())
    signature = _folder_signature(folder)
    cached = _last_listing.get(key)
    if cached is not None and cached[0] == signature:
        return list(cached[1])
    series = _list_series_now(folder)
    _last_listing.clear()
    _last_listing[key] = (signature, series)
    return list(series)


def _list_series_now(folder: Path) -> list[SeriesInfo]:
    _check_folder_entries(folder)
    with native_stderr_to_log():
        uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
        series = []
        for uid in uids:
            files = tuple(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid))
            series.append(SeriesInfo(uid, _description(files[0]) if len(uids) > 1 else "", files))
    if series:
        _check_nothing_left_out(folder, series)
    return series


def select_series(folder: Path, choice: str | None = None) -> SeriesInfo:
    """The one series of ``folder``, or the one ``choice`` names (UID or 1-based number) when there are several."""
    series = list_series(folder)
    if not series:
        raise CTDenoiseError(f"No DICOM series found in folder '{folder}'.",
                             "Point INPUT at a folder of DICOM files, or at an NRRD/NIfTI/MHA file.")
    listing = "; ".join(info.line(number) for number, info in enumerate(series, 1))
    if choice is None:
        if len(series) == 1:
            return series[0]
        raise CTDenoiseError(f"Folder '{folder}' holds {len(series)} DICOM series: {listing}.",
                             "Choose one with --series UID (or its number), or give a folder holding one series.")
    for number, info in enumerate(series, 1):
        if choice in (info.uid, str(number)):
            return info
    raise CTDenoiseError(f"Series '{choice}' is not in folder '{folder}', which holds: {listing}.",
                         "Give one of these UIDs or numbers with --series.")


def _floats(text: str) -> np.ndarray:
    return np.array([float(value) for value in text.strip().split("\\")], dtype=np.float64)


def check_slice_geometry(names: list[str], sizes: list[tuple[int, int]], orientations: list[np.ndarray],
                         positions: list[np.ndarray], name: str) -> None:
    """Refuse a series that is not one box of evenly spaced slices: images of another size or orientation (a
    localizer), slices shifting in-plane (gantry tilt), gaps or uneven spacing along the normal.

    Args:
        names: each slice's file name, in the order the slices are stacked.
        sizes: each slice's (rows, columns).
        orientations: each slice's ImageOrientationPatient (6 direction cosines).
        positions: each slice's ImagePositionPatient.
        name: the series as the messages name it.
    """
    check_same_size(names, sizes, name)
    differs = [index for index, orientation in enumerate(orientations)
               if not np.allclose(orientation, orientations[0], atol=ORIENTATION_TOLERANCE)]
    if differs:
        index = differs[0]
        raise CTDenoiseError(f"DICOM series {name}: '{names[index]}' has the orientation "
                             f"{_cosines(orientations[index])} where '{names[0]}' has {_cosines(orientations[0])} (a "
                             "localizer or a reformatted image in the series?).",
                             "Remove the image(s) of the other orientation from the folder, then run again.")
    check_slice_positions(positions, orientations[0], name)


def check_same_size(names: list[str], sizes: list[tuple[int, int]], name: str) -> None:
    """Refuse a series whose images differ in size (rows, columns), naming the first odd one (a localizer).

    Args:
        names: each image's file name.
        sizes: each image's (rows, columns).
        name: the series as the message names it.
    """
    typical = max(set(sizes), key=sizes.count)
    odd = [index for index, size in enumerate(sizes) if size != typical]
    if odd:
        rows, columns = sizes[odd[0]]
        raise CTDenoiseError(f"DICOM series {name} mixes image sizes: {len(sizes) - len(odd)} images are "
                             f"{typical[1]}x{typical[0]}, '{names[odd[0]]}' is {columns}x{rows} (a localizer or "
                             "scout image?).", "Remove the odd image(s) from the folder, then run again.")


def _cosines(orientation: np.ndarray) -> str:
    return "\\".join(f"{value:g}" for value in np.round(orientation, 4))


def check_slice_positions(positions: list[np.ndarray], orientation: np.ndarray, name: str) -> None:
    """Refuse slices that do not lie on a line along the slice normal (gantry tilt), or not evenly spaced on it.

    Args:
        positions: ImagePositionPatient of each slice, in the order the slices are stacked.
        orientation: ImageOrientationPatient (row and column direction cosines) of the series.
        name: the series as the message names it.
    """
    if len(positions) < 2:
        return
    normal = np.cross(orientation[:3], orientation[3:6])
    along = np.array([float(np.dot(position, normal)) for position in positions])
    offsets = np.array([position - positions[0] for position in positions])
    in_plane = np.linalg.norm(offsets - np.outer(along - along[0], normal), axis=1)
    if in_plane.max() > SHEAR_TOLERANCE_MM:
        worst = int(np.argmax(in_plane))
        tilt = math.degrees(math.atan2(in_plane[worst], abs(along[worst] - along[0])))
        raise CTDenoiseError(
            f"DICOM series {name} is tilted by {tilt:.1f} degrees (gantry tilt): each slice is shifted in-plane from "
            f"the one before, {in_plane[worst]:.1f} mm over the stack, and a volume file holds one straight stack, "
            "so ITK would put the slices up to that far from their recorded positions.",
            "Resample the series onto a straight grid first (e.g. dcm2niix, which corrects gantry tilt, or 3D "
            "Slicer's DICOM import with acquisition geometry regularization).")
    steps = np.diff(along)
    if np.any(np.abs(steps) < SPACING_TOLERANCE_MM):
        index = int(np.argmin(np.abs(steps)))
        raise CTDenoiseError(f"DICOM series {name} has two slices at the same position ({along[index]:.2f} mm, "
                             f"slices {index + 1} and {index + 2} of {len(along)}).",
                             "Remove the duplicate slice, or choose the series with --series.")
    mean_step = (along[-1] - along[0]) / (len(along) - 1)
    tolerance = max(SPACING_TOLERANCE_MM, SPACING_TOLERANCE_FRACTION * abs(mean_step))
    if np.all(np.abs(steps - mean_step) <= tolerance):
        return
    typical = float(np.median(np.abs(steps)))
    worst = int(np.argmax(np.abs(np.abs(steps) - typical)))
    what = ("a slice is missing or unreadable" if abs(steps[worst]) > 1.5 * typical
            else "the slice spacing is not uniform")
    raise CTDenoiseError(
        f"DICOM series {name}: slices {worst + 1} and {worst + 2} of {len(along)} (at {along[worst]:.2f} and "
        f"{along[worst + 1]:.2f} mm along the slice normal) are {abs(steps[worst]):.3f} mm apart "
        f"where the others are {typical:.3f} mm ({what}); read as one volume every slice after the gap would be "
        f"mispositioned.", "Restore the missing slice(s), or convert the series yourself onto a uniform grid.")


def _check_sizes_after_failure(info: SeriesInfo, name: str) -> None:
    """After ITK failed to stack the series: refuse in one line if its images differ in size (a localizer)."""
    import pydicom

    sizes = []
    for file in info.files:
        try:
            header = pydicom.dcmread(file, stop_before_pixels=True)
            sizes.append((int(header.Rows), int(header.Columns)))
        except Exception:  # unreadable here too: ITK's own error says more
            return
    check_same_size([Path(file).name for file in info.files], sizes, name)


def read_series(folder: Path, choice: str | None = None) -> sitk.Image:
    """The chosen series of ``folder`` as one image, after checking its slices form one box of evenly spaced
    slices and that every file listed was read."""
    info = select_series(folder, choice)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(list(info.files))
    reader.MetaDataDictionaryArrayUpdateOn()
    try:
        with native_stderr_to_log():  # ITK's multi-line non-uniform sampling warning; checked below instead
            image = reader.Execute()
    except RuntimeError:
        _check_sizes_after_failure(info, f"'{folder}'")
        raise
    count = len(info.files)
    if count > 1 and image.GetSize()[2] != count:  # one file one slice (a single file may be multi-frame)
        raise CTDenoiseError(f"DICOM series '{folder}': {count} image files were listed but {image.GetSize()[2]} "
                             "slices were read.", "Check the folder for damaged or multi-frame files.")
    if all(reader.HasMetaDataKey(i, POSITION) for i in range(count)) and reader.HasMetaDataKey(0, ORIENTATION):
        first = reader.GetMetaData(0, ORIENTATION)
        orientations = [_floats(reader.GetMetaData(i, ORIENTATION) if reader.HasMetaDataKey(i, ORIENTATION) else first)
                        for i in range(count)]
        size = (image.GetSize()[1], image.GetSize()[0])
        check_slice_geometry([Path(file).name for file in info.files], [size] * count, orientations,
                             [_floats(reader.GetMetaData(i, POSITION)) for i in range(count)], f"'{folder}'")
    return image
