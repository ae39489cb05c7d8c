"""Hounsfield units: the normalisation the networks are trained with, and the int16 outputs are written in.
Whether a volume is plausibly CT in HU is checked in ``io.plausibility``."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

INT16_RANGE = (-32768, 32767)


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


def to_int16_hu(hu: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(hu), *INT16_RANGE).astype(np.int16)
