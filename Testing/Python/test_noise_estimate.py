"""The reference-free noise estimate recovers known noise levels, white and CT-correlated, where a white-noise
estimator (scikit-image's wavelet MAD) under-estimates correlated CT noise several times."""

from __future__ import annotations

import numpy as np
import pytest

from CTDenoiseLib.noise.estimate import estimate_noise_per_slice, estimate_noise_std
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


@pytest.mark.parametrize("kernel", ["hann", "phantom-fbp", "ram-lak"])
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
    assert estimate.grain == pytest.approx({"hann": 0.62, "phantom-fbp": 0.80, "ram-lak": 0.92}[kernel], abs=0.06)


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


def _noise_changing_along_z(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A water cylinder with simulated hann-kernel CT noise scaled to ``levels[z]`` HU on slice z."""
    clean = _water_cylinder(slices=len(levels))
    noise = simulate_low_dose_hu(clean, 0.7, DoseSimulation(dose=0.1, seed=5, views=360)) - clean
    tissue = np.abs(clean[0] - 40.0) < 1
    scale = levels / np.array([image[tissue].std() for image in noise])
    return clean, clean + noise * scale[:, None, None].astype(np.float32)


def test_the_per_slice_estimate_follows_noise_that_changes_along_z() -> None:
    levels = np.linspace(20.0, 80.0, 10)
    clean, noisy = _noise_changing_along_z(levels)
    before = noisy.copy()
    estimate = estimate_noise_per_slice(noisy)
    np.testing.assert_array_equal(noisy, before)
    np.testing.assert_allclose(estimate.std_hu, levels, rtol=0.15)
    assert np.all(estimate.slices == 1)  # every slice had enough flat tissue of its own
    # One number for the volume misses the ends by far more (the reason the per-slice estimate exists).
    whole = estimate_noise_std(noisy).std_hu
    assert whole / levels[0] > 1.5 and levels[-1] / whole > 1.5


def test_a_slice_without_soft_tissue_pools_its_neighbours_and_the_volume_is_the_last_resort() -> None:
    levels = np.linspace(20.0, 80.0, 10)
    _, noisy = _noise_changing_along_z(levels)
    air = np.random.default_rng(4).normal(-1000.0, 20.0, noisy.shape[1:]).astype(np.float32)
    noisy[5] = air  # no tissue: its neighbours 4 and 6 measure for it
    estimate = estimate_noise_per_slice(noisy)
    assert estimate.slices[5] == 3 and estimate.slices[4] == estimate.slices[6] == 1
    assert estimate.std_hu[5] == pytest.approx((levels[4] + levels[6]) / 2, rel=0.15)
    lonely = np.stack([air] * 7 + [noisy[0]])  # tissue on the last slice only: slices 0-4 are out of reach
    estimate = estimate_noise_per_slice(lonely)
    assert list(estimate.slices) == [8] * 5 + [5, 3, 1]  # the volume's estimate, then windows reaching slice 7
    assert estimate.std_hu == pytest.approx(np.full(8, levels[0]), rel=0.15)
    nothing = estimate_noise_per_slice(np.stack([air] * 3))
    assert np.all(np.isnan(nothing.std_hu)) and np.all(nothing.slices == 0)


def test_a_long_volume_is_measured_on_spread_slices_and_interpolated_between(monkeypatch) -> None:
    from CTDenoiseLib.noise import estimate as module

    clean, noisy = _noise_changing_along_z(np.full(10, 50.0))
    levels = np.linspace(20.0, 80.0, 150)
    noise = (noisy - clean)[np.arange(150) % 10] * (levels / 50.0)[:, None, None].astype(np.float32)
    volume = clean[0] + noise
    measured = []
    original = module._slice_local_std
    monkeypatch.setattr(module, "_slice_local_std", lambda image, grain=True: measured.append(1) or original(
        image, grain))
    estimate = estimate_noise_per_slice(volume)
    assert len(measured) == module.MOST_MAP_SLICES < 150  # not every slice: a 300-slice scan would cost 10 s
    assert estimate.std_hu.shape == (150,) and np.all(estimate.slices == 1)
    np.testing.assert_allclose(estimate.std_hu, levels, rtol=0.15)
