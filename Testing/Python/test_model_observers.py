"""Model observers on constructed images where the answer is known (white Gaussian noise, a disk signal)."""

from __future__ import annotations

import numpy as np
import pytest

from CTDenoiseLib.evaluation.model_observers import (
    auc_mann_whitney,
    captured_signal_fraction,
    d_prime,
    laguerre_gauss_channels,
    observe,
    paired_difference,
    tune_channel_width,
)

SIZE = 15


def disk(size: int = SIZE, diameter: float = 6.0, contrast: float = 1.0) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    return contrast * (np.hypot(yy, xx) <= diameter / 2).astype(np.float64)


def images(signal: np.ndarray, n: int, sigma: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    present = signal + rng.normal(0, sigma, (n, *signal.shape))
    absent = rng.normal(0, sigma, (n, *signal.shape))
    return present, absent


def test_auc_and_d_prime_of_known_scores():
    assert auc_mann_whitney(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert auc_mann_whitney(np.array([1.0]), np.array([1.0])) == 0.5
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.5, 1, 20000), rng.normal(0, 1, 20000)
    assert d_prime(a, b) == pytest.approx(1.5, abs=0.05)


def test_laguerre_gauss_channels_are_orthonormal():
    channels = laguerre_gauss_channels(65, 8.0, 6)
    np.testing.assert_allclose(channels.T @ channels, np.eye(6), atol=0.02)


def test_channel_width_follows_the_signal_size():
    small = tune_channel_width(disk(61, 10.0), 6, np.arange(0.3, 3.0, 0.1) * 10.0)
    large = tune_channel_width(disk(61, 20.0), 6, np.arange(0.3, 3.0, 0.1) * 20.0)
    assert large / small == pytest.approx(2.0, rel=0.2)
    assert captured_signal_fraction(disk(61, 20.0), laguerre_gauss_channels(61, large, 6)) > 0.9


@pytest.mark.parametrize("kind", ["cho", "npw"])
def test_strong_signal_is_found(kind):
    signal = disk(contrast=5.0)
    present, absent = images(signal, 60, 1.0, seed=1)
    result = observe(present, absent, kind, laguerre_gauss_channels(SIZE, 4.0, 6), "halves", bootstrap=50,
                     template=signal if kind == "npw" else None)
    assert result.auc > 0.99
    assert result.d_prime > 5


@pytest.mark.parametrize("split", ["halves", "loo"])
def test_pure_noise_gives_chance(split):
    """No signal: AUC about 0.5 over many independent studies; an image scoring itself would inflate it."""
    channels = laguerre_gauss_channels(SIZE, 4.0, 6)
    aucs = [observe(*images(np.zeros((SIZE, SIZE)), 20, 1.0, seed), "cho", channels, split, bootstrap=0).auc
            for seed in range(30)]
    assert np.mean(aucs) == pytest.approx(0.5, abs=0.06)


def test_npw_d_prime_matches_theory_and_scales_with_contrast():
    """White noise, known template s: d' = ||s|| / sigma, proportional to the contrast."""
    sigma, measured = 4.0, []
    for contrast in (1.0, 2.0):
        signal = disk(contrast=contrast)
        result = observe(*images(signal, 2000, sigma, seed=3), "npw", bootstrap=0, template=signal)
        assert result.d_prime == pytest.approx(np.linalg.norm(signal) / sigma, rel=0.08)
        measured.append(result.d_prime)
    assert measured[1] / measured[0] == pytest.approx(2.0, rel=0.1)


def test_cho_d_prime_matches_theory_and_scales_with_contrast():
    """White noise: d'^2 = (U^T s)^T (sigma^2 U^T U)^-1 (U^T s) for the channelized Hotelling observer."""
    sigma, channels, measured = 4.0, laguerre_gauss_channels(SIZE, 4.0, 6), []
    for contrast in (1.0, 2.0):
        signal = disk(contrast=contrast)
        sc = channels.T @ signal.ravel()
        theory = np.sqrt(sc @ np.linalg.solve(sigma**2 * channels.T @ channels, sc))
        result = observe(*images(signal, 2000, sigma, seed=4), "cho", channels, "halves", bootstrap=0)
        assert result.d_prime == pytest.approx(theory, rel=0.1)
        measured.append(result.d_prime)
    assert measured[1] / measured[0] == pytest.approx(2.0, rel=0.12)


def test_bootstrap_interval_contains_the_estimate():
    signal = disk(contrast=1.0)
    result = observe(*images(signal, 40, 4.0, seed=5), "cho", laguerre_gauss_channels(SIZE, 4.0, 6),
                     "halves", bootstrap=200)
    assert result.d_prime_ci[0] < result.d_prime < result.d_prime_ci[1]
    assert result.auc_ci[0] <= result.auc <= result.auc_ci[1]


def test_a_paired_interval_sees_a_small_loss_that_the_two_intervals_side_by_side_hide():
    """The same realisations, one method slightly blurring the signal away: the per-method intervals overlap, the
    paired interval of the difference lies below zero; a method compared with itself differs by exactly 0."""
    signal, channels = disk(contrast=1.0), laguerre_gauss_channels(SIZE, 4.0, 6)
    present, absent = images(signal, 200, 4.0, seed=6)
    weaker = present - 0.15 * signal  # the same noise, 15 % less signal
    kept = observe(present, absent, "cho", channels, "halves", bootstrap=300, seed=1)
    lost = observe(weaker, absent, "cho", channels, "halves", bootstrap=300, seed=1)
    assert lost.d_prime_ci[1] > kept.d_prime_ci[0]  # side by side: overlapping
    difference, low, high = paired_difference(lost, kept)
    assert difference < 0 and low < difference < high < 0
    assert paired_difference(kept, kept) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="resampled alike"):
        paired_difference(kept, observe(present, absent, "cho", channels, "halves", bootstrap=10, seed=1))
