"""The reconstruction kernel sets the grain of the inserted noise: sharper kernels give finer, stronger noise."""

from __future__ import annotations

import numpy as np
import pytest

from CTDenoiseLib.errors import CTDenoiseError
from CTDenoiseLib.simulation.low_dose import DoseSimulation, simulate_low_dose_hu


def _spectrum_centroid(noise: np.ndarray) -> float:
    """Radial centroid, in cycles per pixel, of the mean 2D noise power spectrum of the slices."""
    power = np.mean([np.abs(np.fft.fft2(image)) ** 2 for image in noise], axis=0)
    fy, fx = np.meshgrid(np.fft.fftfreq(noise.shape[1]), np.fft.fftfreq(noise.shape[2]), indexing="ij")
    radius = np.hypot(fy, fx)
    return float((power * radius).sum() / power.sum())


def test_sharper_kernels_give_finer_and_stronger_noise() -> None:
    water = np.full((2, 64, 64), 0.0, dtype=np.float32)
    results = {}
    for kernel in ("hann", "shepp-logan", "ram-lak"):
        low = simulate_low_dose_hu(water, 0.7, DoseSimulation(dose=0.25, kernel=kernel, seed=5, views=120))
        noise = (low - water)[:, 16:48, 16:48]
        results[kernel] = (_spectrum_centroid(noise), float(noise.std()))
    (c_hann, s_hann), (c_shepp, s_shepp), (c_ramlak, s_ramlak) = (results[k]
                                                                  for k in ("hann", "shepp-logan", "ram-lak"))
    assert c_hann < c_shepp < c_ramlak
    assert s_hann < s_shepp < s_ramlak


def test_an_unknown_kernel_is_refused() -> None:
    with pytest.raises(CTDenoiseError, match="kernel"):
        DoseSimulation(kernel="lung")
