"""Noise-amplitude augmentation scales exactly the simulated noise of a patch, and nothing else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from CTDenoiseTrainingLib.patches import PatchBatches
from CTDenoiseTrainingLib.prepare import PreparedCase


@pytest.fixture
def case(tmp_path: Path) -> PreparedCase:
    rng = np.random.default_rng(0)
    normal = rng.integers(-200, 200, (8, 32, 32)).astype(np.int16)
    low = (normal + rng.integers(-30, 30, normal.shape)).astype(np.int16)
    np.save(tmp_path / "n.npy", normal)
    np.save(tmp_path / "l.npy", low)
    return PreparedCase("c", "c", str(tmp_path / "n.npy"), (str(tmp_path / "l.npy"),), True)


def test_a_fixed_scale_multiplies_the_noise_and_keeps_the_target(case: PreparedCase) -> None:
    plain = PatchBatches([case], (4, 16, 16), batch=1, seed=1)
    doubled = PatchBatches([case], (4, 16, 16), batch=1, seed=1, noise_scale=(2.0, 2.0))
    (low, normal), (low2, normal2) = plain[3], doubled[3]
    np.testing.assert_array_equal(normal.numpy(), normal2.numpy())
    np.testing.assert_allclose((low2 - normal2).numpy(), 2 * (low - normal).numpy(), atol=1e-6)


def test_a_range_draws_different_scales_within_it(case: PreparedCase) -> None:
    ranged = PatchBatches([case], (4, 16, 16), batch=1, seed=1, noise_scale=(0.5, 3.0))
    plain = PatchBatches([case], (4, 16, 16), batch=1, seed=1)
    ratios = []
    for step in range(20):
        (low, normal), (low1, normal1) = ranged[step], plain[step]
        ratios.append(float((low - normal).std() / (low1 - normal1).std()))
    assert 0.5 - 1e-6 <= min(ratios) and max(ratios) <= 3.0 + 1e-6 and max(ratios) - min(ratios) > 1.0


def test_an_invalid_range_is_refused(case: PreparedCase) -> None:
    with pytest.raises(ValueError, match="noise_scale"):
        PatchBatches([case], (4, 16, 16), batch=1, seed=1, noise_scale=(2.0, 1.0))
