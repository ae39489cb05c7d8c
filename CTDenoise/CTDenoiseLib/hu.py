"""Hounsfield-unit checks and the normalisation the networks are trained with."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .errors import CTDenoiseError

INT16_RANGE = (-32768, 32767)
MIN_SLICE_SIDE = 16  # voxels per slice side: smaller crops cannot carry CT statistics (and tile at all)


@dataclass(frozen=True)
class HUNormalization:
    """normalised = (clip(HU, low, high) + offset) / scale; air (-1000 HU) maps to 0, water to 1.

    Voxels outside [low, high] (scanner padding such as -2048/-3024, metal) are not denoised: they keep their
    original value in the output.
    """

    low: float = -1024.0
    high: float = 3071.0
    offset: float = 1000.0
    scale: float = 1000.0

    def normalise(self, hu: np.ndarray) -> np.ndarray:
        """HU -> the network's intensities (clipped to ``low``..``high``), float32.

        Args:
            hu: values in HU; not modified.
        """
        return ((np.clip(hu, self.low, self.high) + self.offset) / self.scale).astype(np.float32)

    def denormalise(self, values: np.ndarray) -> np.ndarray:
        """The network's intensities -> HU, float32.

        Args:
            values: normalised values.
        """
        return values.astype(np.float32) * self.scale - self.offset

    def in_range(self, hu: np.ndarray) -> np.ndarray:
        """Where the values lie within ``low``..``high`` (the voxels that are denoised).

        Args:
            hu: values in HU.
        """
        return (hu >= self.low) & (hu <= self.high)

    def to_dict(self) -> dict:
        """The normalisation as model cards hold it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "HUNormalization":
        """The normalisation a model card holds.

        Args:
            data: ``low``, ``high``, ``offset`` and ``scale``.
        """
        return cls(**{key: float(data[key]) for key in ("low", "high", "offset", "scale")})


def check_ct_values(array: np.ndarray, name: str = "input") -> None:
    """Refuse arrays that cannot be a CT in Hounsfield units, with a message saying why and what was expected.

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
    sample = array.ravel()[:: max(1, array.size // 2_000_000)].astype(np.float32)
    plausible = (sample >= -1100) & (sample <= 4000)
    if plausible.mean() < 0.5:
        raise CTDenoiseError(
            f"The {name} does not look like CT in Hounsfield units: only {plausible.mean():.0%} of voxels lie in "
            f"-1100..4000 HU (range {sample.min():.4g}..{sample.max():.4g}).",
            "Give a CT volume in HU (apply the DICOM rescale slope/intercept first).")
    low, high = np.percentile(sample[plausible], [0.5, 99.5])
    if high - low < 100:
        raise CTDenoiseError(
            f"The {name} does not look like CT in Hounsfield units: its values span only {low:.4g}..{high:.4g} "
            "(0.5th-99.5th percentile) where a CT spans hundreds of HU (air -1000, soft tissue 0-100, bone above "
            "300); a PET, MR or constant image looks like this.", "Give a CT volume in HU.")
    if low >= 0:
        raise CTDenoiseError(
            f"The {name} does not look like CT in Hounsfield units: its 0.5th percentile is {low:.4g} >= 0, "
            "but a body CT has fat, lung or air below 0 HU.",
            "If the values are raw stored values, apply the DICOM rescale slope/intercept first.")


def to_int16_hu(hu: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(hu), *INT16_RANGE).astype(np.int16)
