"""Could a CT scanner have produced this volume? The checks every command runs on the CT it reads (``denoise``,
``simulate``, ``evaluate``, ``radiomics`` and the rest), so that values in other units or without their rescale, and
voxel sizes in metres or centimetres, are refused in one line instead of being denoised, simulated or measured as
if they were HU and millimetres.

What a scanner makes, as data:

* Values in HU: air is -1000 and nothing in a body is lower; scanners clip at -1024 and pad outside the
  reconstruction circle with one constant (-1024, -2000, -2048, -3024 ...). Soft tissue and water lie near 0 to
  100, fat near -100, bone above 300. Without the rescale intercept (-1000 or -1024) water and soft tissue land near
  1000 and nothing is negative; with it applied twice, or in tenths of HU, most of the air lies far below -1000.
* Voxel sizes in mm: clinical and cone-beam CT reconstruct 0.1 to 2 mm pixels (downsampled copies up to a few mm)
  and slices 0.1 to 10 mm apart. Centimetres give pixels of about 0.07 and metres 0.0007.
"""

from __future__ import annotations

import numpy as np

from ..errors import CTDenoiseError

MIN_SLICE_SIDE = 16  # voxels per slice side: smaller crops cannot carry CT statistics (and tile at all)
SAMPLE_VOXELS = 2_000_000  # values are judged on an even sample of at most this many voxels
PLAUSIBLE_HU = (-1100.0, 4000.0)  # air (with noise) to dense bone; metal may exceed it in a few voxels
PADDING_AT_OR_BELOW_HU = -1000.0  # a constant filling the outside of the field of view lies here (or the clip floor)
PADDING_MIN_FRACTION = 0.01  # of the voxels, for one value to count as padding
PADDING_VALUES = 3  # at most this many padding constants (LIDC has -2048 and the clip floor -1024)
# Below air only noise tails (falling away from -1000; a 0.2 % dose simulation has a third of its voxels there) and
# padding lie. A peak well below it, over a few % of the voxels, is air or lung shifted or scaled.
BELOW_AIR_HU, BELOW_AIR_MIN_FRACTION, SHIFTED_AIR_PEAK_HU, PEAK_BIN_HU = -1400.0, 0.03, -1600.0, 50.0
STORED_WATER_HU, STORED_WATER_MAX_FRACTION = (850.0, 1150.0), 0.30  # water and tissue without the intercept
MIN_SPAN_HU = 100.0
VOXEL_SIZE_MM = {"in-plane": (0.1, 10.0), "between slices": (0.1, 30.0)}


def check_ct_volume(volume, name: str = "input") -> None:
    """Refuse a volume a CT scanner cannot have produced: its voxel sizes, then its values.

    Args:
        volume: a ``Volume`` (array (z, y, x), spacing (x, y, z) in mm).
        name: how the messages name it, e.g. ``input`` or ``reference 'nd.nrrd'``.
    """
    check_voxel_size(volume.spacing, name)
    check_ct_values(volume.array, name)


def check_voxel_size(spacing: tuple[float, ...], name: str = "input") -> None:
    """Refuse voxel sizes no CT scanner makes (spacing in metres or centimetres, or missing).

    Args:
        spacing: (x, y, z) in mm, as SimpleITK gives it.
        name: how the message names the volume.
    """
    sizes = [float(value) for value in spacing[:3]]
    (in_low, in_high), (z_low, z_high) = VOXEL_SIZE_MM["in-plane"], VOXEL_SIZE_MM["between slices"]
    plausible = (all(np.isfinite(sizes)) and all(in_low <= size <= in_high for size in sizes[:2])
                 and z_low <= sizes[2] <= z_high)
    if not plausible:
        raise CTDenoiseError(
            f"The {name} has voxels of {' x '.join(f'{size:g}' for size in sizes)} mm, which no CT scanner makes "
            f"(plausible: {in_low:g}-{in_high:g} mm in-plane, {z_low:g}-{z_high:g} mm between slices); the spacing "
            "may be in metres or centimetres, or missing from the file's header.",
            "Set the voxel size in millimetres in the header (e.g. in 3D Slicer's Volumes module), then run again.")


def _padding_values(sample: np.ndarray) -> np.ndarray:
    """The constants filling the outside of the field of view (or the scanner's clip floor): single values at or
    below -1000 that each hold at least 1 % of the voxels."""
    low = sample[sample <= PADDING_AT_OR_BELOW_HU]
    if low.size < PADDING_MIN_FRACTION * sample.size:
        return np.empty(0, sample.dtype)
    values, counts = np.unique(low, return_counts=True)
    frequent = np.argsort(counts)[::-1][:PADDING_VALUES]
    return values[frequent[counts[frequent] >= PADDING_MIN_FRACTION * sample.size]]


def _peak_below_air(tissue: np.ndarray) -> float | None:
    """The centre of the highest peak of the values below air, where it lies well below air and well above the
    values just under it (a noise tail has its highest bin there); else None."""
    below = tissue[tissue < BELOW_AIR_HU]
    if below.size < BELOW_AIR_MIN_FRACTION * tissue.size:
        return None
    lowest = max(float(below.min()), float(np.iinfo(np.int16).min))
    counts, edges = np.histogram(below, bins=np.arange(BELOW_AIR_HU, lowest - PEAK_BIN_HU, -PEAK_BIN_HU)[::-1])
    highest = int(np.argmax(counts))
    centre = float(edges[highest] + PEAK_BIN_HU / 2)
    return centre if centre < SHIFTED_AIR_PEAK_HU and counts[highest] > 2 * counts[-1] else None


def check_ct_values(array: np.ndarray, name: str = "input") -> None:
    """Refuse arrays that cannot be a CT in Hounsfield units, with a message saying what was found, what a CT
    holds and what to do. Padding constants outside the field of view are left out of the statistics.

    Args:
        array: the (z, y, x) volume.
        name: how the messages name it.
    """
    if min(array.shape[-2:]) < MIN_SLICE_SIDE:
        raise CTDenoiseError(
            f"The {name} is only {array.shape[-1]} x {array.shape[-2]} voxels per slice ({array.shape[0]} slices).",
            f"Give a CT volume of at least {MIN_SLICE_SIDE} x {MIN_SLICE_SIDE} voxels per slice and 3 slices, in HU.")
    finite = np.isfinite(array)
    if not finite.all():
        bad = int(array.size - finite.sum())
        raise CTDenoiseError(f"The {name} contains {bad} NaN or infinite voxel(s).",
                             "Repair or mask them before denoising.")
    sample = array.ravel()[:: max(1, array.size // SAMPLE_VOXELS)].astype(np.float32)
    padding = _padding_values(sample)
    tissue = sample[~np.isin(sample, padding)] if padding.size else sample
    if tissue.size == 0:
        raise CTDenoiseError(f"The {name} holds nothing but the constant value(s) {padding.tolist()}.",
                             "Give a CT volume in HU.")
    low_hu, high_hu = PLAUSIBLE_HU
    plausible = (tissue >= low_hu) & (tissue <= high_hu)
    if plausible.mean() < 0.5:
        raise CTDenoiseError(
            f"The {name} does not look like CT in Hounsfield units: only {plausible.mean():.0%} of voxels lie in "
            f"{low_hu:.0f}..{high_hu:.0f} HU (range {tissue.min():.4g}..{tissue.max():.4g}).",
            "Give a CT volume in HU (apply the DICOM rescale slope/intercept first).")
    peak = _peak_below_air(tissue)
    if peak is not None:
        below_air = float((tissue < BELOW_AIR_HU).mean())
        raise CTDenoiseError(
            f"The {name} does not look like CT in Hounsfield units: {below_air:.0%} of its voxels lie below "
            f"{BELOW_AIR_HU:.0f} HU with a peak at {peak:.0f} HU, a second air below air (-1000 HU), where a scanner "
            "gives only noise tails falling away from -1000 and constant padding.",
            "Give the volume in HU: values shifted by the rescale intercept twice, or in tenths of HU, look like this.")
    low, high = np.percentile(tissue[plausible], [0.5, 99.5])
    if high - low < MIN_SPAN_HU:
        raise CTDenoiseError(
            f"The {name} does not look like CT in Hounsfield units: its values span only {low:.4g}..{high:.4g} "
            "(0.5th-99.5th percentile) where a CT spans hundreds of HU (air -1000, soft tissue 0-100, bone above "
            "300); a PET, MR or constant image looks like this.", "Give a CT volume in HU.")
    if low >= 0:
        left_out = f" (padding {', '.join(f'{value:g}' for value in padding)} left out)" if padding.size else ""
        raise CTDenoiseError(
            f"The {name} does not look like CT in Hounsfield units: its 0.5th percentile is {low:.4g} >= 0"
            f"{left_out}, but a body CT has fat, lung or air below 0 HU.",
            "If the values are raw stored values, apply the DICOM rescale slope/intercept first.")
    water_low, water_high = STORED_WATER_HU
    stored_water = float(((tissue >= water_low) & (tissue <= water_high)).mean())
    if stored_water > STORED_WATER_MAX_FRACTION:
        raise CTDenoiseError(
            f"The {name} does not look like CT in Hounsfield units: {stored_water:.0%} of its voxels lie in "
            f"{water_low:.0f}..{water_high:.0f} HU, where water and soft tissue fall when the rescale intercept "
            f"(-1000 or -1024) is missing; in HU they lie near 0 and dense bone holds far fewer voxels (plausible: "
            f"at most {STORED_WATER_MAX_FRACTION:.0%}).",
            "Apply the DICOM rescale slope/intercept (stored value + intercept = HU), then run again.")
