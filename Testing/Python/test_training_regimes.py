"""Regime augmentation: slice averaging and pixel zoom act on low and normal dose alike, simulation variants
cycle over the realisations, and validation scores every regime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from CTDenoiseLib.simulation.low_dose import DoseSimulation
from CTDenoiseTrainingLib.config import TrainConfig
from CTDenoiseTrainingLib.patches import PatchBatches, _resample
from CTDenoiseTrainingLib.prepare import PreparedCase, realisation_settings


@pytest.fixture
def case(tmp_path: Path) -> PreparedCase:
    rng = np.random.default_rng(0)
    normal = rng.integers(-200, 200, (24, 48, 48)).astype(np.int16)
    low = (normal + rng.integers(-60, 60, normal.shape)).astype(np.int16)
    np.save(tmp_path / "n.npy", normal)
    np.save(tmp_path / "l.npy", low)
    return PreparedCase("c", "c", str(tmp_path / "n.npy"), (str(tmp_path / "l.npy"),), True)


def test_averaging_slices_lowers_white_noise_by_its_square_root(case: PreparedCase) -> None:
    plain = PatchBatches([case], (4, 16, 16), batch=8, seed=1)
    averaged = PatchBatches([case], (4, 16, 16), batch=8, seed=1, slice_averaging=(4, 4))
    (low, normal), (low4, normal4) = plain[0], averaged[0]
    assert low4.shape == low.shape
    ratio = float((low4 - normal4).std() / (low - normal).std())
    assert ratio == pytest.approx(0.5, rel=0.15)


def test_zoom_resamples_both_doses_to_the_patch_size(case: PreparedCase) -> None:
    zoomed = PatchBatches([case], (4, 16, 16), batch=2, seed=1, pixel_zoom=(0.5, 0.5))
    low, normal = zoomed[0]
    assert low.shape == normal.shape == (2, 1, 4, 16, 16)
    # Shrinking a 32x32 crop to 16x16 with the antialiased bilinear (triangle) filter weights 4 pixels per axis
    # by (1, 3, 3, 1) / 8: white noise keeps sqrt(20 / 64) per axis, 0.3125 in all.
    plain = PatchBatches([case], (4, 16, 16), batch=2, seed=1)
    ratio = float((low - normal).std() / (plain[0][0] - plain[0][1]).std())
    assert ratio == pytest.approx(0.3125, rel=0.1)


def test_resample_keeps_a_constant_and_averages_slices() -> None:
    patch = np.stack([np.full((8, 8), value, np.float32) for value in (0, 2, 4, 6)])
    out = _resample(patch, 2, (12, 12))
    assert out.shape == (2, 12, 12)
    np.testing.assert_allclose(out[:, 6, 6], [1.0, 5.0], atol=1e-5)


def test_without_augmentation_the_batches_are_unchanged(case: PreparedCase) -> None:
    a = PatchBatches([case], (4, 16, 16), batch=2, seed=3)
    b = PatchBatches([case], (4, 16, 16), batch=2, seed=3, slice_averaging=(1, 1), pixel_zoom=(1.0, 1.0))
    for step in range(3):
        np.testing.assert_array_equal(a[step][0].numpy(), b[step][0].numpy())


def test_realisations_cycle_through_every_simulation_variant() -> None:
    config = TrainConfig(kernels=["hann", "ram-lak"], exposure_control=[True, False], realisations=4)
    variants = config.simulation_variants()
    settings = [realisation_settings(DoseSimulation(), variants, r) for r in range(4)]
    assert {(s.kernel, s.exposure_control) for s in settings} == {("hann", True), ("ram-lak", True),
                                                                 ("hann", False), ("ram-lak", False)}
    assert realisation_settings(DoseSimulation(), variants, 4) == settings[0]


@pytest.mark.parametrize("values, message", [({"kernels": ["lung"]}, "kernels"),
                                             ({"slice_averaging": (0, 2)}, "slice_averaging"),
                                             ({"pixel_zoom": (1.5, 1.0)}, "pixel_zoom"),
                                             ({"validation_noise_scales": [0.0]}, "validation_noise_scales")])
def test_invalid_regimes_are_refused(values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**values)


def test_validation_scores_every_regime_and_reports_the_worst(case: PreparedCase) -> None:
    import torch

    from CTDenoiseLib.hu import HUNormalization
    from CTDenoiseTrainingLib import distributed
    from CTDenoiseTrainingLib.validation import validate

    identity = torch.nn.Identity()
    identity.register_parameter("unused", torch.nn.Parameter(torch.zeros(1)))
    context = distributed.Context()
    metrics = validate(identity, [case], HUNormalization(), 0, context, noise_scales=(0.5, 2.0))
    one = validate(identity, [case], HUNormalization(), 0, context, noise_scales=(0.5,))
    # The identity's output is its input: no gain anywhere, and the mean low-dose PSNR is that of both scales.
    assert metrics["psnr_gain_db"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["psnr_gain_db_worst"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["low_dose_psnr_db"] < one["low_dose_psnr_db"] - 2.0
