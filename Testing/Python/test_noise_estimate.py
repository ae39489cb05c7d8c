"""The reference-free noise estimate recovers known noise levels, white and CT-correlated, where a white-noise
estimator (scikit-image's wavelet MAD) under-estimates correlated CT noise several times."""

from __future__ import annotations

import numpy as np
import pytest

from CTDenoiseLib.evaluation.noise_estimate import estimate_noise_std
from CTDenoiseLib.simulation.low_dose import DoseSimulation, simulate_low_dose_hu


def _water_cylinder(slices: int = 4, size: int = 160) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    disc = ((yy - size / 2) / (0.42 * size)) ** 2 + ((xx - size / 2) / (0.46 * size)) ** 2 <= 1
    organ = ((yy - size / 2) / (0.15 * size)) ** 2 + ((xx - size / 2 - 20) / (0.12 * size)) ** 2 <= 1
    image = np.where(disc, 40.0, -1000.0)
    image[organ] = 120.0  # an enhancing organ: an edge the estimate must not count
    return np.repeat(image[None], slices, 0).astype(np.float32)


@pytest.mark.parametrize("std", [10.0, 40.0, 120.0])
def test_white_noise_of_known_std_is_recovered(std: float) -> None:
    clean = _water_cylinder()
    noisy = clean + np.random.default_rng(1).normal(0, std, clean.shape).astype(np.float32)
    estimate = estimate_noise_std(noisy)
    assert estimate.std_hu == pytest.approx(std, rel=0.08)
    assert estimate.grain == pytest.approx(1.0, abs=0.05)  # white noise: neighbours uncorrelated


@pytest.mark.parametrize("kernel", ["hann", "ram-lak"])
def test_simulated_ct_noise_is_recovered_where_a_white_noise_estimator_fails(kernel: str) -> None:
    from skimage.restoration import estimate_sigma

    clean = _water_cylinder()
    low = simulate_low_dose_hu(clean, 0.7, DoseSimulation(dose=0.1, kernel=kernel, seed=3, views=360))
    tissue = np.abs(clean - 40.0) < 1
    true = float((low - clean)[tissue].std())
    estimate = estimate_noise_std(low)
    assert estimate.std_hu == pytest.approx(true, rel=0.08)
    if kernel == "hann":  # the soft kernel's grain hides from the wavelet's finest scale
        wavelet = float(np.mean([estimate_sigma(image) for image in low]))
        assert wavelet < 0.5 * true
    # Coarser grain, lower value: sqrt(1 - neighbour correlation) of the inserted noise, measured without reference.
    assert estimate.grain == pytest.approx({"hann": 0.62, "ram-lak": 0.92}[kernel], abs=0.06)


def test_the_input_is_not_modified_and_air_alone_gives_no_estimate() -> None:
    air = np.full((3, 64, 64), -1000.0, dtype=np.float32)
    air += np.random.default_rng(0).normal(0, 20, air.shape).astype(np.float32)
    before = air.copy()
    estimate = estimate_noise_std(air)
    np.testing.assert_array_equal(air, before)
    assert np.isnan(estimate.std_hu) and estimate.event()["std_hu"] is None and estimate.event()["grain"] is None


def test_a_single_slice_is_accepted() -> None:
    clean = _water_cylinder(slices=1)[0]
    noisy = clean + np.random.default_rng(2).normal(0, 30, clean.shape).astype(np.float32)
    assert estimate_noise_std(noisy).std_hu == pytest.approx(30.0, rel=0.08)
