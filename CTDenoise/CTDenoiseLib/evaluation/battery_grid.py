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
    """One cell of the grid: a case and the settings its low dose is made with.

    Attributes:
        case: name of the case in the grid.
        dose: the low dose as a fraction of the normal dose (simulated, or the real scans' dose).
        thickness: ``NATIVE`` or the slice thickness in mm, as text (``"5"``).
        pixel: ``NATIVE`` or the in-plane pixel size in mm, as text (``"0.6"``).
        exposure_control: whether the simulator scales I0 per slice (``DoseSimulation.exposure_control``).
        kernel: the reconstruction kernel of the simulated noise, one of ``simulation.kernels.KERNELS``.
        real_dose: the low dose is the MITA phantom's real low-dose scans, not simulated.
    """

    case: str  # name of the case in the grid
    dose: float
    thickness: str = NATIVE  # NATIVE or slice thickness in mm, as text ("5")
    pixel: str = NATIVE  # NATIVE or in-plane pixel size in mm ("0.6")
    exposure_control: bool = True
    kernel: str = "hann"
    real_dose: bool = False  # the phantom's real low-dose scans

    @property
    def label(self) -> str:
        """The condition in words for tables and logs, e.g. ``case 10% 5 mm / native px / EC / hann`` or
        ``MITA phantom real 10%``."""
        if self.real_dose:
            return f"{self.case} real {self.dose:.0%}"
        calibration = "EC" if self.exposure_control else "fixed I0"
        return (f"{self.case} {self.dose:.0%} {self.thickness if self.thickness == NATIVE else self.thickness + ' mm'}"
                f" / {self.pixel if self.pixel == NATIVE else self.pixel + ' mm'} px / {calibration} / {self.kernel}")

    def to_dict(self) -> dict:
        """The fields as a plain dict (field name -> value), e.g. for a CSV row."""
        return asdict(self)


@dataclass
class Grid:
    """Cases by name (a volume path, relative paths against the grid file's folder, or ``phantom`` for the MITA
    phantom folder) and the values each axis takes; every combination of the axes is a condition.

    Attributes:
        cases: volume path by case name.
        doses: simulated dose fractions.
        thicknesses: ``NATIVE`` or slice thicknesses in mm, as text.
        pixels: ``NATIVE`` or in-plane pixel sizes in mm, as text.
        exposure_control: the simulator's exposure-control settings to try.
        kernels: the reconstruction kernels of the simulated noise.
        phantom: folder of the MITA phantom (``fbp/dose_XXX/...``); empty: no phantom conditions.
        phantom_doses: the phantom's real doses to score (fractions of the normal dose).
        crop: > 0: score a centred in-plane crop of this many pixels (a quick grid for tests).
        max_slices: > 0: score at most this many central slices.
    """

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
        """Every condition of the grid.

        Returns:
            Per case, every combination of dose, thickness, pixel size, exposure control and kernel; then, where
            ``phantom`` is set, one real-dose condition of the ``"MITA phantom"`` per phantom dose.
        """
        found = [Condition(case, dose, thickness, pixel, exposure, kernel)
                 for case in self.cases
                 for dose, thickness, pixel, exposure, kernel in itertools.product(
                     self.doses, self.thicknesses, self.pixels, self.exposure_control, self.kernels)]
        if self.phantom:
            found += [Condition("MITA phantom", dose, real_dose=True) for dose in self.phantom_doses]
        return found

    @classmethod
    def from_file(cls, path: Path) -> "Grid":
        """A grid from a JSON file of ``Grid``'s fields.

        Args:
            path: the JSON file; relative case paths and a relative ``phantom`` are taken against its folder.

        Returns:
            The grid, with absolute case and phantom paths.
        """
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        base = Path(path).resolve().parent
        grid = cls(**data)
        grid.cases = {name: str(base / value) if not Path(value).is_absolute() else value
                      for name, value in grid.cases.items()}
        if grid.phantom and not Path(grid.phantom).is_absolute():
            grid.phantom = str(base / grid.phantom)
        return grid


def default_grid(shared_data: Path) -> Grid:
    """The battery of the README's results: LIDC-IDRI-0003 (never trained on) over the whole grid, and the phantom.

    Args:
        shared_data: the shared data folder, holding ``lidc/LIDC-IDRI-0003/image.nrrd`` and ``lcd_ct_phantom``.

    Returns:
        The grid with the default axes.
    """
    return Grid(cases={"LIDC-IDRI-0003": str(shared_data / "lidc" / "LIDC-IDRI-0003" / "image.nrrd")},
                phantom=str(shared_data / "lcd_ct_phantom"))
