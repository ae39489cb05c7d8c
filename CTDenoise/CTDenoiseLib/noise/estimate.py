"""How noisy is a CT volume, without a reference: the noise standard deviation in homogeneous soft tissue.

CT noise is spatially correlated (the reconstruction kernel shapes its spectrum), so estimators built for white
noise, which look only at the highest frequencies (``skimage.restoration.estimate_sigma``: wavelet MAD), miss
most of its power and under-estimate it 3-5x. This one measures the whole variance where the anatomy is flat:
per axial slice, the standard deviation in small windows whose smoothed content is soft tissue (fat to
enhanced organs) and whose smoothed gradient is low; the median over those windows is the estimate. Windows of
9 x 9 pixels hold several noise grains, and the median ignores the windows that straddle an edge or a vessel.
The sample-variance bias of a window against correlated noise is corrected by ``WINDOW_CORRECTION``, measured on
noise from the simulator (``Testing/Python/test_noise_estimate.py`` checks the estimate on volumes of known noise).

The same windows also say how coarse the noise grain is: the median local std of horizontal neighbour differences
over sqrt(2) times the median local std. For noise whose neighbouring pixels are correlated by rho it is
sqrt(1 - rho): about 1 for white noise and sharp kernels (ram-lak about 0.9), lower for soft kernels (hann about
0.6), whose coarser grain a network trained on simulated noise under-corrects (``models.noise_level_gain``).

The noise level changes along z (exposure control follows the patient's width: shoulders and upper abdomen are
noisier than mid-chest), so ``estimate_noise_per_slice`` gives each slice its own estimate from the same windows:
its own flat soft tissue where it has enough, else a window of neighbouring slices, else the whole volume's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .. import events

SOFT_TISSUE_HU = (-150.0, 250.0)  # smoothed HU of the windows that count: fat, muscle, organs, blood
WINDOW = 9  # pixels per side of a local-variance window
SMOOTHING_PIXELS = 2.0  # Gaussian sigma that separates anatomy from noise for the masks
MOST_SLICES = 24  # slices looked at, evenly spread (the noise level varies slowly along z)
# A window's mean absorbs some low-frequency noise power: measured 1.02 (ram-lak) to 1.075 (hann).
WINDOW_CORRECTION = 1.05
METHOD = "median local std (9x9 windows) in flat soft tissue"
MIN_PIXELS = 200  # pixels of flat soft tissue below which no estimate is made (a volume's)
# A slice's own estimate needs more: 9x9 windows of neighbouring pixels overlap, so 200 pixels are only a few
# independent windows. On simulated hann noise, slices with 230 such pixels scattered by 4 % around the true level,
# with 500 by 2 %; a 512 x 512 chest slice has tens of thousands.
MIN_SLICE_PIXELS = 500
SLICE_REACH = 2  # a slice short of tissue pools its neighbours up to this many slices away, nearest first
# A noise map measures at most this many slices, evenly spread, and interpolates the others: exposure control
# changes the level smoothly along z, and measuring every slice of a 300-slice scan cost 10 s on 2 cores.
MOST_MAP_SLICES = 64


@dataclass(frozen=True)
class NoiseEstimate:
    """``std_hu``: the estimated noise standard deviation in HU (nan when no soft tissue was found); ``grain``:
    sqrt(1 - neighbour correlation) of the noise, 1 for white noise, lower for coarser grain (nan likewise)."""

    std_hu: float
    windows: int  # pixels whose window counted
    method: str = METHOD
    grain: float = float("nan")
    map_hu: tuple[float, float] | None = None  # (lowest, highest) slice of a per-slice noise map, where one is used

    def event(self) -> dict:
        """The estimate as a ``noise`` event (HU to 0.1, grain to 0.001; null where unknown; the range of a per-slice
        map where one was told)."""
        extra = {"map_hu": [round(value, 1) for value in self.map_hu]} if self.map_hu else {}
        return events.event("noise", std_hu=None if np.isnan(self.std_hu) else round(self.std_hu, 1),
                            method=self.method, grain=None if np.isnan(self.grain) else round(self.grain, 3), **extra)


def _local_std(image: np.ndarray) -> np.ndarray:
    mean = ndimage.uniform_filter(image, WINDOW)
    variance = ndimage.uniform_filter(image * image, WINDOW) - mean * mean
    return np.sqrt(np.clip(variance, 0.0, None) * WINDOW * WINDOW / (WINDOW * WINDOW - 1))


def _slice_local_std(image: np.ndarray, grain: bool = True) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(local std, local std of neighbour differences (None without ``grain``), flat soft-tissue mask) of a slice."""
    smooth = ndimage.gaussian_filter(image, SMOOTHING_PIXELS)
    local_std = _local_std(image)
    tissue = (smooth > SOFT_TISSUE_HU[0]) & (smooth < SOFT_TISSUE_HU[1])
    # The whole window must be tissue, not only its centre: erode by half a window.
    tissue = ndimage.binary_erosion(tissue, np.ones((WINDOW, WINDOW), bool))
    gradient = np.hypot(ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1))
    if tissue.any():
        tissue &= gradient <= np.median(gradient[tissue])
    if not grain:
        return local_std, None, tissue
    difference = np.zeros_like(image)
    difference[:, :-1] = image[:, 1:] - image[:, :-1]
    return local_std, _local_std(difference), tissue


def estimate_noise_std(hu: np.ndarray) -> NoiseEstimate:
    """Estimate the noise standard deviation (HU) of a CT volume from its homogeneous soft tissue.

    Args:
        hu: CT volume in HU, (Z, Y, X) or a single (Y, X) slice; not modified.

    Returns:
        The estimate, the number of pixels it rests on and the noise grain; ``std_hu`` and ``grain`` are nan where
        fewer than 200 pixels of flat soft tissue exist (a phantom of air and bone, a crop of lung).
    """
    volume = np.asarray(hu)
    if volume.ndim == 2:
        volume = volume[None]
    picks = np.unique(np.linspace(0, volume.shape[0] - 1, min(MOST_SLICES, volume.shape[0])).round().astype(int))
    values, differences = [], []
    for index in picks:
        local_std, difference_std, tissue = _slice_local_std(volume[index].astype(np.float64))
        values.append(local_std[tissue])
        differences.append(difference_std[tissue])
    samples = np.concatenate(values) if values else np.empty(0)
    if samples.size < MIN_PIXELS:
        return NoiseEstimate(float("nan"), int(samples.size))
    median = float(np.median(samples))
    grain = float(np.median(np.concatenate(differences)) / (np.sqrt(2.0) * median)) if median > 0 else float("nan")
    return NoiseEstimate(median * WINDOW_CORRECTION, int(samples.size), grain=grain)


@dataclass(frozen=True)
class SliceNoiseEstimate:
    """The noise standard deviation of each axial slice, estimated without a reference.

    Attributes:
        std_hu: (Z,) estimated noise std per slice, HU; nan where the whole volume has too little flat soft tissue.
        slices: (Z,) how many slices each estimate pooled: 1 (the slice alone), up to ``2 * SLICE_REACH + 1`` (a
            window of neighbours, fewer at the volume's ends), the number measured (the whole volume's estimate),
            0 (none); a slice between measured ones (a volume of more than ``MOST_MAP_SLICES``) reports its
            nearest measured slice's.
    """

    std_hu: np.ndarray
    slices: np.ndarray
    method: str = METHOD + ", per slice"


def estimate_noise_per_slice(hu: np.ndarray) -> SliceNoiseEstimate:
    """Estimate the noise standard deviation (HU) of every axial slice from its homogeneous soft tissue.

    Each slice's estimate is the median local std of its own flat soft tissue windows (the method of
    ``estimate_noise_std``) when it has at least ``MIN_SLICE_PIXELS`` of them; otherwise the window grows to the
    slices 1, then ``SLICE_REACH``, slices away on both sides, and where even that is short, the slice takes the
    median of every slice's windows (the volume's estimate, from all slices rather than ``MOST_SLICES``; nan below
    ``MIN_PIXELS``). A volume of more than ``MOST_MAP_SLICES`` slices is measured on that many, evenly spread (the
    neighbours pooled are then the neighbouring measured slices), and the slices between are interpolated linearly.

    Args:
        hu: CT volume in HU, (Z, Y, X) or a single (Y, X) slice; not modified.

    Returns:
        Per slice the estimate and how many slices it pooled.
    """
    volume = np.asarray(hu)
    if volume.ndim == 2:
        volume = volume[None]
    depth = volume.shape[0]
    measured = np.unique(np.linspace(0, depth - 1, min(MOST_MAP_SLICES, depth)).round().astype(int))
    samples = []
    for index in measured:
        local_std, _, tissue = _slice_local_std(volume[index].astype(np.float64), grain=False)
        samples.append(local_std[tissue].astype(np.float32))  # half the memory: a whole scan keeps them all
    pooled = np.concatenate(samples)
    whole = float(np.median(pooled)) * WINDOW_CORRECTION if pooled.size >= MIN_PIXELS else float("nan")
    count = len(samples)
    std_hu = np.full(count, whole)
    slices = np.full(count, count if np.isfinite(whole) else 0)
    for index in range(count):
        for reach in range(SLICE_REACH + 1):
            window = samples[max(0, index - reach):index + reach + 1]
            if sum(part.size for part in window) >= MIN_SLICE_PIXELS:
                std_hu[index] = float(np.median(np.concatenate(window))) * WINDOW_CORRECTION
                slices[index] = len(window)
                break
    if count == depth:
        return SliceNoiseEstimate(std_hu, slices)
    every = np.arange(depth)
    nearest = measured[np.abs(every[:, None] - measured[None]).argmin(axis=1)]
    return SliceNoiseEstimate(np.interp(every, measured, std_hu), slices[np.searchsorted(measured, nearest)])
