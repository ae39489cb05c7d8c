"""Reading one DICOM series from a folder, refusing the two cases where ITK would silently give a wrong volume:

* several series in the folder: ITK takes whichever it is asked for, so the caller must say which (``series``:
  its SeriesInstanceUID or its 1-based number in the listing the error prints);
* slices that are not evenly spaced along the slice normal (a missing or unreadable slice, which GDCM drops, or
  a non-uniform series): ITK restacks them at one spacing and only prints a warning, mispositioning slices by up
  to a spacing. The positions (ImagePositionPatient projected on the normal of ImageOrientationPatient) are
  checked here and a gap is refused with where it is.
"""

from __future__ import annotations

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


def list_series(folder: Path) -> list[SeriesInfo]:
    """The DICOM series in ``folder`` (not its sub-folders), in GDCM's order."""
    with native_stderr_to_log():
        uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
        series = []
        for uid in uids:
            files = tuple(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid))
            series.append(SeriesInfo(uid, _description(files[0]) if len(uids) > 1 else "", files))
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


def check_slice_positions(positions: list[np.ndarray], orientation: np.ndarray, name: str) -> None:
    """Refuse slices that do not lie evenly spaced along the slice normal.

    Args:
        positions: ImagePositionPatient of each slice, in the order the slices are stacked.
        orientation: ImageOrientationPatient (row and column direction cosines) of the series.
        name: the series as the message names it.
    """
    if len(positions) < 2:
        return
    normal = np.cross(orientation[:3], orientation[3:6])
    along = np.array([float(np.dot(position, normal)) for position in positions])
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


def read_series(folder: Path, choice: str | None = None) -> sitk.Image:
    """The chosen series of ``folder`` as one image, after checking its slice positions."""
    info = select_series(folder, choice)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(list(info.files))
    reader.MetaDataDictionaryArrayUpdateOn()
    with native_stderr_to_log():  # ITK's multi-line non-uniform sampling warning; checked below instead
        image = reader.Execute()
    count = len(info.files)
    if all(reader.HasMetaDataKey(i, POSITION) for i in range(count)) and reader.HasMetaDataKey(0, ORIENTATION):
        positions = [_floats(reader.GetMetaData(i, POSITION)) for i in range(count)]
        check_slice_positions(positions, _floats(reader.GetMetaData(0, ORIENTATION)), f"'{folder}'")
    return image
