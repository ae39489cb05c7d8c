"""DICOM series output: a denoised volume written as a new, derived CT series that a PACS accepts.

Every output slice is the header of the input slice at the same position (patient, study, equipment, frame of
reference and per-slice geometry copied) with new Series and SOP Instance UIDs, Image Type
``DERIVED\\SECONDARY\\...``, a series description naming the model, precision and strength, a Source Image
Sequence pointing at the original slice, and the denoised pixels stored as the input stored them (bits stored,
signed or unsigned, rescale slope and intercept kept). Compressed input (JPEG 2000 ...) is written uncompressed
(Explicit VR Little Endian). Private tags are not copied: they describe the original acquisition's pixels in
vendor-specific ways that a derived image cannot vouch for.

The series is written into a hidden temporary folder beside OUTPUT and renamed to OUTPUT when every file has
been written and read back; the input folder is only read.
"""

from __future__ import annotations

import copy
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import CTDenoiseError, one_line
from .atomic import PARTIAL_SUFFIX, atomic_write, process_partial_prefix, sweep_stale_partials
from .file_modes import apply_default_mode, current_umask
from .volumes import Volume, check_parent_writable

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
LO_MAX = 64  # characters of a DICOM LO value (Series Description)

# Copied headers lose these: they describe the original pixels or instance, not the denoised one.
DROPPED_KEYWORDS = (
    "SmallestImagePixelValue", "LargestImagePixelValue", "SmallestPixelValueInSeries", "LargestPixelValueInSeries",
    "IconImageSequence", "SourceImageSequence", "DerivationCodeSequence", "PixelDataProviderURL",
    "DataSetTrailingPadding", "DigitalSignaturesSequence", "MACParametersSequence",
)
# Type 2 attributes of the CT Image IOD's modules: present in every output slice, empty where the input had none
# (anonymised series often drop them, and a validator or PACS then rejects the instance).
TYPE2_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "ReferringPhysicianName",
    "StudyID", "AccessionNumber", "SeriesNumber", "Manufacturer", "PositionReferenceIndicator", "InstanceNumber",
    "SliceThickness", "KVP", "AcquisitionNumber",
)
# Body Part Examined values (DICOM PS3.16 Annex L) of unpaired parts. For any other value Laterality is required
# (Type 2C); where the input has none it is written empty, which means "unknown" - the truth for a derived image.
UNPAIRED_BODY_PARTS = frozenset({
    "ABDOMEN", "ABDOMENPELVIS", "BRAIN", "CHEST", "CHESTABDOMEN", "CHESTABDPELVIS", "CSPINE", "HEAD", "HEADNECK",
    "HEART", "LIVER", "LSPINE", "NECK", "PANCREAS", "PELVIS", "SKULL", "SPINE", "SPLEEN", "TSPINE", "WHOLEBODY",
})


@dataclass(frozen=True)
class Derivation:
    """What made the derived series; named in its Series Description and Derivation Description.

    Args:
        model: registered model name.
        precision: the precision that ran (fp32, fp16, int8).
        strength: the denoising strength (1.0: the network's full correction).
        weights_sha256: SHA-256 of the model weights, recorded for traceability.
        adaptation_steps: > 0: a copy of the network was first adapted to the scan in this many steps (``--adapt``).
    """

    model: str
    precision: str
    strength: float = 1.0
    weights_sha256: str = ""
    adaptation_steps: int = 0

    def series_description(self, source: str = "") -> str:
        """The derived series' SeriesDescription, cut to the VR's 64 characters.

        Args:
            source: the input series' description (kept in brackets), or empty.
        """
        adapted = " adapted" if self.adaptation_steps else ""
        ours = f"CTDenoise {self.model}{adapted} {self.precision} strength {self.strength:g}"
        return (f"{ours} ({source})" if source else ours)[:LO_MAX]

    def derivation_description(self) -> str:
        """The DerivationDescription: engine version, model, weights' SHA-256, adaptation, precision and strength."""
        weights = f", weights SHA-256 {self.weights_sha256[:16]}" if self.weights_sha256 else ""
        adapted = (f", adapted to this scan ({self.adaptation_steps} steps of self-supervised fine-tuning)"
                   if self.adaptation_steps else "")
        return (f"Low-dose CT denoising by CTDenoise {__version__}: model {self.model}{weights}{adapted}, "
                f"precision {self.precision}, strength {self.strength:g}")


@dataclass(frozen=True)
class SourceSlice:
    """One input DICOM image: its file and its header read without pixel data."""

    path: Path
    header: object  # pydicom Dataset

    @property
    def position(self) -> np.ndarray:
        """ImagePositionPatient as three floats (mm)."""
        return np.asarray([float(value) for value in self.header.ImagePositionPatient], dtype=np.float64)


@dataclass(frozen=True)
class DicomOutputPlan:
    """The checked input images and output folder of one derived series, made before any denoising."""

    input_dir: Path
    output_dir: Path
    slices: tuple[SourceSlice, ...]


@dataclass(frozen=True)
class WrittenSeries:
    folder: Path
    files: tuple[Path, ...]
    series_uid: str
    clipped_voxels: int  # denoised values outside what the input's stored representation can hold
    notes: tuple[str, ...] = ()


def check_output_folder(output_dir: str | os.PathLike, input_dir: str | os.PathLike) -> Path:
    """Refuse an output folder that exists with files in it, lies inside the input, or cannot be created."""
    output_dir, input_dir = Path(output_dir), Path(input_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise CTDenoiseError(f"DICOM output '{output_dir}' is a file.",
                             "Give a new folder name for the derived series (it is created).")
    if output_dir.is_dir() and any(output_dir.iterdir()):
        raise CTDenoiseError(f"DICOM output folder '{output_dir}' already holds files.",
                             "Give a new or empty folder; an existing series is never overwritten.")
    resolved_output, resolved_input = output_dir.resolve(), input_dir.resolve()
    if resolved_output == resolved_input or resolved_input in resolved_output.parents:
        raise CTDenoiseError(f"DICOM output '{output_dir}' is inside the input series folder '{input_dir}'.",
                             "Choose a folder outside the input; the input folder is never modified.")
    check_parent_writable(output_dir)
    return output_dir


def plan_dicom_output(input_dir: str | os.PathLike, output_dir: str | os.PathLike,
                      series: str | None = None) -> DicomOutputPlan:
    """Read the headers (no pixels) of the input series and check that a derived series can be written.

    Args:
        input_dir: the DICOM series folder being denoised; only read.
        output_dir: the folder the derived series will be (a new or empty folder, outside ``input_dir``).
        series: for a folder holding several series, the one being denoised (SeriesInstanceUID or number), as
            ``read_volume`` takes it.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    from .dicom_series import check_slice_geometry, select_series

    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise CTDenoiseError(f"DICOM output needs a DICOM series folder as INPUT; '{input_dir}' is not a folder.",
                             "Give the folder of the series, or drop --output-format dicom.")
    output_dir = check_output_folder(output_dir, input_dir)
    slices = []
    for name in select_series(input_dir, series).files:  # the files read_volume stacks
        try:
            header = pydicom.dcmread(name, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, EOFError) as error:
            raise CTDenoiseError(f"Cannot read the DICOM header of '{name}' ({error}).",
                                 "Repair or remove the file.") from error
        if not all(key in header for key in ("ImagePositionPatient", "ImageOrientationPatient", "Rows", "Columns")):
            raise CTDenoiseError(f"'{name}' has no image position or orientation.",
                                 "DICOM output needs an axial CT series with per-slice geometry.")
        slices.append(SourceSlice(Path(name), header))
    # one straight box of evenly spaced slices (no tilt, no localizer), as reading the series will demand; here
    # before the model loads
    check_slice_geometry([item.path.name for item in slices],
                         [(int(item.header.Rows), int(item.header.Columns)) for item in slices],
                         [np.asarray([float(value) for value in item.header.ImageOrientationPatient])
                          for item in slices], [item.position for item in slices], f"'{input_dir}'")
    for item in slices:
        sop_class = sop_class_of(item.header)
        if sop_class != CT_IMAGE_STORAGE:
            raise CTDenoiseError(f"'{item.path.name}' is not a CT image (SOP Class {sop_class or 'missing'}).",
                                 "DICOM output is made for CT Image Storage series.")
        if int(item.header.get("BitsAllocated", 0)) != 16 or int(item.header.get("SamplesPerPixel", 1)) != 1:
            raise CTDenoiseError(f"'{item.path.name}' stores {item.header.get('BitsAllocated')} bits per pixel.",
                                 "DICOM output supports 16-bit single-channel CT; write a volume file instead.")
    return DicomOutputPlan(input_dir, output_dir, tuple(slices))


def sop_class_of(header) -> str:
    """The SOP Class UID, from the File Meta Information where an anonymiser emptied the dataset's."""
    meta = getattr(header, "file_meta", None)
    return str(header.get("SOPClassUID", "") or (meta.get("MediaStorageSOPClassUID", "") if meta else ""))


def match_slices(volume: Volume, slices: tuple[SourceSlice, ...]) -> list[SourceSlice]:
    """The input image of each of ``volume``'s slices (index z), found by its position along the slice normal.

    Refuses a volume slice with no image or with images of several series at its position, and images whose
    size or orientation differ from the volume's.
    """
    depth, rows, columns = volume.array.shape
    axes = np.asarray(volume.direction, dtype=np.float64).reshape(3, 3)
    origin = np.asarray(volume.origin, dtype=np.float64)
    step = float(volume.spacing[2])
    tolerance = min(0.1, 0.25 * step)  # mm; DS values carry a few decimals, slices are a spacing apart
    found: dict[int, list[SourceSlice]] = {}
    for item in slices:
        offset = item.position - origin
        index = int(round(float(offset @ axes[:, 2]) / step))
        if 0 <= index < depth and np.linalg.norm(offset - index * step * axes[:, 2]) <= tolerance:
            found.setdefault(index, []).append(item)
    matched = []
    for index in range(depth):
        candidates = found.get(index, [])
        z = float((origin + index * step * axes[:, 2])[2])
        if not candidates:
            raise CTDenoiseError(f"Slice {index + 1} of {depth} (z = {z:.2f} mm) has no DICOM image at its position "
                                 "(a gap or uneven slice spacing).", "Write a volume file (.nrrd) instead.")
        if len(candidates) > 1:
            series = sorted({str(item.header.get("SeriesInstanceUID", "") or "(no UID)") for item in candidates})
            raise CTDenoiseError(f"{len(candidates)} DICOM images lie at slice {index + 1} (z = {z:.2f} mm), of "
                                 f"series {', '.join(series)}.", "Put one series per folder.")
        item = candidates[0]
        orientation = np.asarray([float(value) for value in item.header.ImageOrientationPatient])
        if (int(item.header.Rows), int(item.header.Columns)) != (rows, columns) or \
                not np.allclose(orientation, np.concatenate([axes[:, 0], axes[:, 1]]), atol=1e-4):
            raise CTDenoiseError(f"'{item.path.name}' differs in size or orientation from the denoised volume.",
                                 "Put one series per folder, or write a volume file (.nrrd) instead.")
        matched.append(item)
    return matched


def stored_values(hu: np.ndarray, header) -> tuple[np.ndarray, int]:
    """HU back to the stored pixel values of ``header``'s representation, and how many had to be clipped."""
    slope = float(header.get("RescaleSlope", 1) or 1)
    intercept = float(header.get("RescaleIntercept", 0) or 0)
    bits = int(header.get("BitsStored", 16) or 16)
    signed = int(header.get("PixelRepresentation", 0)) == 1
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    values = np.rint((hu.astype(np.float64) - intercept) / slope)
    clipped = int(np.count_nonzero((values < low) | (values > high)))
    return np.clip(values, low, high).astype(np.int16 if signed else np.uint16), clipped


def derived_header(source: SourceSlice, series_uid: str, study_uid: str, series_number: int,
                   description: str, derivation: Derivation, now: datetime):
    """The output slice's header: ``source``'s, copied, with the identity and history of a derived image."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

    header = Dataset(copy.deepcopy(source.header))  # the plan's header stays as read
    header.remove_private_tags()
    for keyword in DROPPED_KEYWORDS:
        if keyword in header:
            delattr(header, keyword)
    for tag in [tag for tag in header.keys() if tag.group & 0xFF00 == 0x6000]:  # overlays of the original
        del header[tag]
    sop_class = sop_class_of(source.header)
    source_uid = str(source.header.get("SOPInstanceUID", ""))
    instance_uid = generate_uid()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")

    header.SOPClassUID = sop_class
    header.SOPInstanceUID = instance_uid
    header.SeriesInstanceUID = series_uid
    header.StudyInstanceUID = study_uid
    header.Modality = "CT"
    image_type = [str(value) for value in (header.get("ImageType") or [])]
    header.ImageType = ["DERIVED", "SECONDARY", *(image_type[2:] or ["AXIAL"])]
    header.SeriesDescription = description
    header.SeriesNumber = series_number
    header.SeriesDate = header.ContentDate = header.InstanceCreationDate = date
    header.SeriesTime = header.ContentTime = header.InstanceCreationTime = time
    header.DerivationDescription = derivation.derivation_description()
    if source_uid:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = source_uid
        header.SourceImageSequence = Sequence([item])
    software = [str(value) for value in (header.get("SoftwareVersions") or []) if str(value)]
    header.SoftwareVersions = [*software, f"CTDenoise {__version__}"]
    if "RescaleSlope" not in header or "RescaleIntercept" not in header:
        header.RescaleSlope, header.RescaleIntercept = "1", "0"
    for keyword in TYPE2_KEYWORDS:
        if keyword not in header:
            setattr(header, keyword, None)
    body_part = str(header.get("BodyPartExamined", "") or "").upper()
    if body_part and body_part not in UNPAIRED_BODY_PARTS and "Laterality" not in header \
            and "ImageLaterality" not in header:
        header.Laterality = None

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"CTDENOISE_{__version__}"[:16]
    header.file_meta = meta
    return header


def write_derived_series(volume: Volume, plan: DicomOutputPlan, derivation: Derivation) -> WrittenSeries:
    """Write ``volume`` (HU, the input's slices) as a new derived series into ``plan.output_dir``, atomically.

    Args:
        volume: the denoised volume, with the input volume's geometry (one slice per input image).
        plan: from :func:`plan_dicom_output`, made before denoising.
        derivation: the model, precision and strength, named in the series description.
    """
    import pydicom
    from pydicom.uid import generate_uid

    matched = match_slices(volume, plan.slices)
    first = matched[0].header
    notes = []
    study_uid = str(first.get("StudyInstanceUID", ""))
    if not study_uid:
        # Anonymisers sometimes empty it; derive one from the frame of reference so reruns land in one study.
        study_uid = generate_uid(entropy_srcs=["ctdenoise-study", str(first.get("FrameOfReferenceUID", "")),
                                               str(plan.input_dir.resolve())])
        notes.append("the input has no Study Instance UID; the derived series was given a generated one")
    try:
        series_number = int(first.get("SeriesNumber") or 0) + 1000
    except (TypeError, ValueError):
        series_number = 1000
    series_number = series_number if series_number < 2**31 else 1000
    description = derivation.series_description(str(first.get("SeriesDescription", "") or ""))
    series_uid = generate_uid()
    now = datetime.now()
    output_dir = check_output_folder(plan.output_dir, plan.input_dir)  # again: time has passed since planning
    sweep_stale_partials(output_dir)
    temporary = Path(tempfile.mkdtemp(prefix=process_partial_prefix(output_dir), suffix=PARTIAL_SUFFIX,
                                      dir=output_dir.parent))
    clipped = 0
    names = []
    try:
        # the rename replaces an empty folder; it fails if files appeared there meanwhile
        with atomic_write(output_dir, temporary) as partial:
            for index, source in enumerate(matched):
                header = derived_header(source, series_uid, study_uid, series_number, description, derivation, now)
                pixels, count = stored_values(volume.array[index], header)
                clipped += count
                header.add_new(0x7FE00010, "OW", pixels.tobytes())
                name = f"CT{index + 1:06d}.dcm"
                pydicom.dcmwrite(partial / name, header, enforce_file_format=True)
                apply_default_mode(partial / name)
                names.append(name)
            _verify(partial, names, volume.array[0].size * 2)
            os.chmod(partial, 0o777 & ~current_umask())
    except OSError as error:
        raise CTDenoiseError(f"Cannot write the DICOM series to '{output_dir}' ({one_line(error)}).",
                             "Check free disk space and permissions; nothing was left behind.") from error
    if clipped:
        notes.append(f"{clipped} denoised voxel(s) lay outside the input's stored value range and were clipped to it")
    return WrittenSeries(output_dir, tuple(output_dir / name for name in names), series_uid, clipped, tuple(notes))


def _verify(folder: Path, names: list[str], pixel_bytes: int) -> None:
    """Read every written file back: a short write (full disk) must fail here, before the rename."""
    import pydicom

    for name in names:
        try:
            dataset = pydicom.dcmread(folder / name)
            complete = len(dataset.PixelData) == pixel_bytes
        except Exception as error:  # any reader failure means the file is not what was written
            raise OSError(f"{name} does not read back: {one_line(error)}") from error
        if not complete:
            raise OSError(f"{name} holds {len(dataset.PixelData)} of {pixel_bytes} pixel bytes")
