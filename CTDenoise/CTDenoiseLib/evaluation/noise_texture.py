"""Noise texture of the simulator against real FBP noise on the MITA phantom: noise power spectrum peak,
centroid and noise std, real scans vs the simulator, per dose and kernel (``ctdenoise noise-spectrum``).

Real noise: the phantom's signal-absent realisations at a dose, each minus the mean of the others
(``noise_spectrum.realisation_noise``). Simulated noise: the simulator run on the noise-free ground truth (inserts
removed) and the truth subtracted, so the noise is the simulator's alone; a dose ``d`` is simulated with the dose
fraction ``d / (1 + d)``, which inserts ``1/d`` times the full-dose quantum variance, as a scan at ``d`` has (the
detectability study's simulated realisations are made the same way). The 100 % scans' mean would carry their
residual real noise (about 6 HU) into the comparison. Pixels: 1 mm (``lcd_phantom.SIMULATION_PIXEL_MM``, the
``.mhd`` spacing, on which I0 was calibrated); spectra are in cycles/pixel, which the pixel size does not change.
Both are measured inside the phantom's inner disc (``lcd_phantom.PHANTOM_INNER_RADIUS`` pixels).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..simulation.kernels import KERNELS
from .noise_spectrum import NoiseSpectrum, noise_power_spectrum, realisation_noise

REAL = "real"
SIMULATED = "simulated"
SIMULATION_SEED = 27


@dataclass(frozen=True)
class TextureRow:
    """One line of the comparison.

    Attributes:
        source: ``REAL`` or ``SIMULATED``.
        dose: the dose as a fraction of the phantom's normal dose.
        kernel: the simulator's kernel (``"scanner FBP"`` for the real scans).
        peak: the NPS peak in cycles/pixel.
        centroid: the NPS centroid (average frequency) in cycles/pixel.
        std_hu: the noise std in HU: the median over the inner disc's pixels of the RMS across realisations.
        realisations: the noise images measured.
    """

    source: str
    dose: float
    kernel: str
    peak: float
    centroid: float
    std_hu: float
    realisations: int

    def to_dict(self) -> dict:
        return asdict(self)


def inner_disc(shape: tuple[int, int]) -> np.ndarray:
    """(Y, X) bool: the pixels within ``PHANTOM_INNER_RADIUS`` of the slice's centre (clear of the phantom's edge)."""
    from ..simulation.lcd_phantom import PHANTOM_INNER_RADIUS

    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.hypot(yy - (shape[0] - 1) / 2, xx - (shape[1] - 1) / 2) < PHANTOM_INNER_RADIUS


def _row(source: str, dose: float, kernel: str, noise: np.ndarray) -> tuple[TextureRow, NoiseSpectrum]:
    mask = inner_disc(noise.shape[1:])
    spectrum = noise_power_spectrum(noise, mask)
    std = float(np.median(np.sqrt(np.mean(noise ** 2, axis=0))[mask]))
    return TextureRow(source, dose, kernel, spectrum.peak, spectrum.centroid, std, len(noise)), spectrum


def real_texture(root: Path, dose: float, realisations: int | None = None) -> tuple[TextureRow, NoiseSpectrum]:
    """The real scans' noise at ``dose``: every signal-absent realisation enters the subtraction, the first
    ``realisations`` of the noise images (all by default) are measured.

    Args:
        root: the phantom's scan folder (``lcd_ct_phantom/fbp``).
        dose: 0.1, 0.55 or 1.0 (``lcd_phantom.REAL_DOSES``).
        realisations: how many noise images to measure (fewer: faster, noisier).

    Returns:
        The table row and the spectrum.
    """
    from ..simulation.lcd_phantom import real_realisations

    _, absent = real_realisations(root, dose)
    return _row(REAL, dose, "scanner FBP", realisation_noise(absent)[:realisations])


def simulated_texture(root: Path, dose: float, kernel: str | None = None, realisations: int = 10,
                      seed: int = SIMULATION_SEED) -> tuple[TextureRow, NoiseSpectrum]:
    """The simulator's noise at ``dose`` with ``kernel`` (its default where None) and its default I0.

    Args:
        root: the phantom's scan folder (``lcd_ct_phantom/fbp``), holding ``ground_truth.mhd``.
        dose: the dose as a fraction of the normal dose, in (0, 1].
        kernel: one of ``KERNELS``; None: ``DoseSimulation``'s default.
        realisations: noise images to simulate.
        seed: seed of the noise.

    Returns:
        The table row and the spectrum.
    """
    from ..simulation.lcd_phantom import SIMULATION_PIXEL_MM, ground_truth, signal_absent_truth
    from ..simulation.low_dose import DoseSimulation, simulate_low_dose_hu

    truth = signal_absent_truth(ground_truth(root))
    settings = DoseSimulation(dose=dose / (1.0 + dose), seed=seed, **({"kernel": kernel} if kernel else {}))
    low = simulate_low_dose_hu(np.repeat(truth[None], realisations, 0), SIMULATION_PIXEL_MM, settings)
    return _row(SIMULATED, dose, settings.kernel, low - truth)


def texture_table(root: Path, doses: tuple[float, ...] = (0.1, 0.55), kernels: tuple[str, ...] = KERNELS,
                  realisations: int = 10) -> list[TextureRow]:
    """Real and simulated rows for each dose: the real scans first, then each kernel.

    Args:
        root: the phantom's scan folder (``lcd_ct_phantom/fbp``).
        doses: doses with real scans (``lcd_phantom.REAL_DOSES``).
        kernels: the simulator's kernels to measure.
        realisations: simulated noise images per dose and kernel.

    Returns:
        The rows.
    """
    rows = []
    for index, dose in enumerate(doses):
        rows.append(real_texture(root, dose)[0])
        rows.extend(simulated_texture(root, dose, kernel, realisations, SIMULATION_SEED + index)[0]
                    for kernel in kernels)
    return rows


def _cell(value: float, real_value: float | None, digits: int) -> str:
    text = f"{value:.{digits}f}"
    return text if real_value is None else f"{text} ({value / real_value - 1:+.0%})"


def markdown(rows: list[TextureRow]) -> str:
    """The rows as a Markdown table, each simulated row with its difference from the real row of its dose."""
    real = {row.dose: row for row in rows if row.source == REAL}
    lines = ["| dose | noise | peak (cycles/px) | centroid (cycles/px) | std (HU) |", "|---|---|---|---|---|"]
    for row in rows:
        reference = real.get(row.dose) if row.source == SIMULATED else None
        name = "real scans" if row.source == REAL else f"simulated, {row.kernel}"
        lines.append(f"| {row.dose:.0%} | {name} | {_cell(row.peak, reference and reference.peak, 3)} | "
                     f"{_cell(row.centroid, reference and reference.centroid, 3)} | "
                     f"{_cell(row.std_hu, reference and reference.std_hu, 1)} |")
    return "\n".join(lines) + "\n"
