"""The robustness battery's conditions, as data: which unseen volumes, at which doses, slice thicknesses,
pixel sizes, simulator calibrations and reconstruction kernels.

A condition changes the normal-dose volume first (in-plane resampling to another pixel size, averaging thin
slices into thicker ones, as a scanner reconstructs them) and then simulates the low dose on it, so the noise
grain in pixels and the noise level follow the condition as they would at another site. The MITA phantom enters
with its real 10 % and 55 % dose scans instead of simulated ones.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

NATIVE = "native"
PHANTOM_REAL_DOSE = "phantom"  # a case whose low dose comes from real scans, not the simulator


@dataclass(frozen=True)
class Condition:
    case: str  # name of the case in the grid
    dose: float
    thickness: str = NATIVE  # NATIVE or slice thickness in mm, as text ("5")
    pixel: str = NATIVE  # NATIVE or in-plane pixel size in mm ("0.6")
    exposure_control: bool = True
    kernel: str = "hann"
    real_dose: bool = False  # the phantom's real low-dose scans

    @property
    def label(self) -> str:
        if self.real_dose:
            return f"{self.case} real {self.dose:.0%}"
        calibration = "EC" if self.exposure_control else "fixed I0"
        return (f"{self.case} {self.dose:.0%} {self.thickness if self.thickness == NATIVE else self.thickness + ' mm'}"
                f" / {self.pixel if self.pixel == NATIVE else self.pixel + ' mm'} px / {calibration} / {self.kernel}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Grid:
    """Cases by name (a volume path, relative paths against the grid file's folder, or ``phantom`` for the MITA
    phantom folder) and the values each axis takes; every combination of the axes is a condition."""

    cases: dict[str, str] = field(default_factory=dict)
    doses: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.25, 0.5])
    thicknesses: list[str] = field(default_factory=lambda: [NATIVE, "5"])
    pixels: list[str] = field(default_factory=lambda: [NATIVE, "0.6"])
    exposure_control: list[bool] = field(default_factory=lambda: [True, False])
    kernels: list[str] = field(default_factory=lambda: ["hann", "ram-lak"])
    phantom: str = ""  # folder of the MITA phantom (fbp/dose_XXX/...), empty: none
    phantom_doses: list[float] = field(default_factory=lambda: [0.1, 0.55])
    crop: int = 0  # > 0: score a centred in-plane crop of this many pixels (a quick grid for tests)
    max_slices: int = 0  # > 0: at most this many central slices

    def conditions(self) -> list[Condition]:
        found = [Condition(case, dose, thickness, pixel, exposure, kernel)
                 for case in self.cases
                 for dose, thickness, pixel, exposure, kernel in itertools.product(
                     self.doses, self.thicknesses, self.pixels, self.exposure_control, self.kernels)]
        if self.phantom:
            found += [Condition("MITA phantom", dose, real_dose=True) for dose in self.phantom_doses]
        return found

    @classmethod
    def from_file(cls, path: Path) -> "Grid":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        base = Path(path).resolve().parent
        grid = cls(**data)
        grid.cases = {name: str(base / value) if not Path(value).is_absolute() else value
                      for name, value in grid.cases.items()}
        if grid.phantom and not Path(grid.phantom).is_absolute():
            grid.phantom = str(base / grid.phantom)
        return grid


def default_grid(shared_data: Path) -> Grid:
    """The battery of the README: LIDC-IDRI-0003 (never trained on) over the whole grid, and the phantom."""
    return Grid(cases={"LIDC-IDRI-0003": str(shared_data / "lidc" / "LIDC-IDRI-0003" / "image.nrrd")},
                phantom=str(shared_data / "lcd_ct_phantom"))
