"""The MITA CCT189 low-contrast phantom: its scans, its four inserts, and more realisations made by simulation.

The shared data (``lcd_ct_phantom/fbp``) holds 10 realisations per dose (10 / 55 / 100 %) and class (signal
present / absent), stacked along z as ``.mhd`` (stored values HU + 1000), and the noise-free 2D
``ground_truth.mhd``. The inserts are read off the ground truth: the connected regions inside the phantom that
differ from the background. Their contrast is the largest difference from the background and their diameter the
one of a disk with the same contrast-weighted area (edges are partial-volume).

Real noise for training (``training_pair``): the signal-absent realisations 1-5 of each dose may train a network
(real scanner noise texture, paired with the mean of the 100 % dose realisations 1-5); realisations 6-10 and every
signal-present scan never do, so the battery (signal present) and detectability (``real_realisations``: signal
present, and signal absent 6-10) judge networks on scans they have not seen.

Simulated realisations (``simulate_realisations``): signal present = the ground truth, signal absent = the ground
truth with the inserts set to the background, each given independent noise by the engine's projection-domain
simulator (``simulation.simulate_low_dose_hu``, 1 mm pixels, the calibration it was fitted on). The ground truth
has no noise of its own, so a scan at ``d`` times the normal dose is simulated with the simulator's dose fraction
``d / (1 + d)``, which inserts noise of variance ``1/d`` times that of the normal-dose scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .kernels import DEFAULT_KERNEL

STORED_OFFSET = 1000.0  # stored value = HU + 1000
REAL_DOSES = {0.1: "dose_010", 0.55: "dose_055", 1.0: "dose_100"}
PHANTOM_INNER_RADIUS = 100  # pixels from the centre: inside the phantom, clear of its edge
SIMULATION_PIXEL_MM = 1.0
TRAINING_ABSENT_REALISATIONS = 5  # the first five signal-absent realisations of each dose may train; the rest judge
TRAINING_LOW_DOSES = (0.1, 0.55)


@dataclass(frozen=True)
class Insert:
    """One low-contrast insert: centre (row, column) in pixels, contrast in HU, equivalent diameter in pixels.

    Attributes:
        name: its contrast and size as text, e.g. ``"+14 HU, 6.3 px"``.
        centre: (row, column) of its centre of mass, in pixels.
        contrast_hu: its largest difference from the background, in HU (signed).
        diameter_px: the diameter of a disk with its contrast-weighted area, in pixels.
    """

    name: str
    centre: tuple[float, float]
    contrast_hu: float
    diameter_px: float


def read_stack(path: Path) -> np.ndarray:
    """(N, Y, X) HU float32 from a phantom ``.mhd`` (or (1, Y, X) for the 2D ground truth).

    Args:
        path: the ``.mhd`` file, whose stored values are HU + ``STORED_OFFSET``.

    Returns:
        The slices in HU, float32.
    """
    import SimpleITK as sitk

    array = sitk.GetArrayFromImage(sitk.ReadImage(str(path))).astype(np.float32) - STORED_OFFSET
    return array[None] if array.ndim == 2 else array


def ground_truth(root: Path) -> np.ndarray:
    """The noise-free phantom slice (Y, X) in HU.

    Args:
        root: the phantom's scan folder (``lcd_ct_phantom/fbp``), holding ``ground_truth.mhd``.

    Returns:
        The slice, float32 HU.
    """
    return read_stack(Path(root) / "ground_truth.mhd")[0]


def find_inserts(truth: np.ndarray, background_hu: float = 0.0) -> list[Insert]:
    """The inserts of a noise-free slice, ordered by diameter, named by contrast and size.

    Args:
        truth: noise-free slice (Y, X) in HU.
        background_hu: the phantom's background value in HU.

    Returns:
        The inserts within ``PHANTOM_INNER_RADIUS`` pixels of the slice's centre, smallest diameter first.
    """
    from scipy import ndimage

    yy, xx = np.mgrid[: truth.shape[0], : truth.shape[1]]
    centre = ((truth.shape[0] - 1) / 2, (truth.shape[1] - 1) / 2)
    inside = np.hypot(yy - centre[0], xx - centre[1]) < PHANTOM_INNER_RADIUS
    labels, count = ndimage.label(inside & (np.abs(truth - background_hu) > 0.5))
    inserts = []
    for index in range(1, count + 1):
        region = labels == index
        difference = truth[region] - background_hu
        contrast = float(difference[np.argmax(np.abs(difference))])
        diameter = 2 * np.sqrt(float(difference.sum() / contrast) / np.pi)
        row, column = ndimage.center_of_mass(region)
        inserts.append(Insert("", (float(row), float(column)), contrast, float(diameter)))
    inserts.sort(key=lambda insert: insert.diameter_px)
    return [Insert(f"{i.contrast_hu:+.0f} HU, {i.diameter_px:.1f} px", i.centre, i.contrast_hu, i.diameter_px)
            for i in inserts]


def signal_absent_truth(truth: np.ndarray, background_hu: float = 0.0) -> np.ndarray:
    """The ground truth with every insert set to the background value.

    Args:
        truth: noise-free slice (Y, X) in HU; not modified.
        background_hu: the phantom's background value in HU.

    Returns:
        A copy of ``truth`` in which the pixels that differ from the background within one diameter of each
        insert's centre (``find_inserts``) are set to ``background_hu``.
    """
    absent = truth.copy()
    for insert in find_inserts(truth, background_hu):
        yy, xx = np.mgrid[: truth.shape[0], : truth.shape[1]]
        near = np.hypot(yy - insert.centre[0], xx - insert.centre[1]) < insert.diameter_px
        absent[near & (np.abs(truth - background_hu) > 0.5)] = background_hu
    return absent


def real_realisations(root: Path, dose: float) -> tuple[np.ndarray, np.ndarray]:
    """(present, absent) stacks (N, Y, X) in HU of the shared phantom scans at ``dose`` (0.1, 0.55 or 1.0).

    Args:
        root: the phantom's scan folder (``lcd_ct_phantom/fbp``).
        dose: fraction of the normal dose, a key of ``REAL_DOSES``.

    Returns:
        The signal-present realisations and the signal-absent ones that never train a network (realisations
        ``TRAINING_ABSENT_REALISATIONS + 1`` to 10; see ``training_pair``), float32 HU.

    Raises:
        KeyError: ``dose`` is not one of the scanned doses (``REAL_DOSES``).
    """
    folder = Path(root) / REAL_DOSES[dose]
    return (read_stack(folder / "signal_present" / "signal_present.mhd"),
            read_stack(folder / "signal_absent" / "signal_absent.mhd")[TRAINING_ABSENT_REALISATIONS:])


def training_pair(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """Real low dose and its target for training, from the signal-absent realisations that may train
    (the first ``TRAINING_ABSENT_REALISATIONS`` of each dose): the 10 % ones then the 55 % ones stacked along z
    (the phantom is uniform along z; the noise level steps once, as exposure control makes it step), and the mean
    of the 100 % ones repeated on every slice (its own noise about 20 / sqrt(5) HU, independent of the input's).

    Args:
        root: the phantom's scan folder (``lcd_ct_phantom/fbp``).

    Returns:
        (low dose, target), each (len(TRAINING_LOW_DOSES) x 5, Y, X) float32 HU.
    """
    def absent(dose: float) -> np.ndarray:
        stack = read_stack(Path(root) / REAL_DOSES[dose] / "signal_absent" / "signal_absent.mhd")
        return stack[:TRAINING_ABSENT_REALISATIONS]

    low = np.concatenate([absent(dose) for dose in TRAINING_LOW_DOSES])
    target = np.broadcast_to(absent(1.0).mean(axis=0), low.shape).astype(np.float32)
    return low, target


def simulate_realisations(truth: np.ndarray, dose: float, count: int, seed: int, kernel: str = DEFAULT_KERNEL
                          ) -> tuple[np.ndarray, np.ndarray]:
    """``count`` simulated present and absent realisations (each with its own noise) at ``dose`` x normal dose.

    Args:
        truth: the noise-free slice (Y, X) in HU.
        dose: fraction of the normal dose (0 < dose <= 1).
        count: realisations per class.
        seed: seed of the present class; the absent class uses ``seed + 1``.
        kernel: the simulator's reconstruction kernel (``kernels.KERNELS``), with its calibrated I0.

    Returns:
        The signal-present and the signal-absent stacks, each (count, Y, X) float32 HU, simulated with 1 mm
        pixels (``SIMULATION_PIXEL_MM``).
    """
    from .low_dose import DoseSimulation, simulate_low_dose_hu

    fraction = dose / (1.0 + dose)
    present = simulate_low_dose_hu(np.repeat(truth[None], count, 0), SIMULATION_PIXEL_MM,
                                   DoseSimulation(dose=fraction, seed=seed, kernel=kernel))
    absent = simulate_low_dose_hu(np.repeat(signal_absent_truth(truth)[None], count, 0), SIMULATION_PIXEL_MM,
                                  DoseSimulation(dose=fraction, seed=seed + 1, kernel=kernel))
    return present, absent


def roi(stack: np.ndarray, centre: tuple[float, float], size: int) -> np.ndarray:
    """(N, size, size) ROIs of a stack, centred on the pixel nearest ``centre`` (``size`` odd).

    Args:
        stack: the slices (N, Y, X).
        centre: (row, column) in pixels, e.g. ``Insert.centre``.
        size: the ROI's side in pixels, odd; the ROI must lie inside the slice.

    Returns:
        A view of ``stack`` (not a copy).
    """
    half = size // 2
    row, column = int(round(centre[0])), int(round(centre[1]))
    return stack[:, row - half: row + half + 1, column - half: column + half + 1]
