"""Low-dose simulation against the real dose levels of the MITA phantom (10 / 55 / 100 % dose).

The phantom's stored values are HU + 1000 (air 0, water 1000). Noise std is measured as in the data's README:
per pixel across the 10 noise realisations, median inside the phantom. Real scans: 63.8 / 27.3 / 20.2 HU.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from CTDenoiseLib.errors import CTDenoiseError
from CTDenoiseLib.io.volumes import Volume
from CTDenoiseLib.simulation.low_dose import DoseSimulation, simulate_low_dose_hu, thicken_slices

from conftest import shared_path


def phantom(dose: str) -> np.ndarray:
    path = shared_path(f"lcd_ct_phantom/fbp/dose_{dose}/signal_absent/signal_absent.mhd")
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path))).astype(np.float32) - 1000.0


def realisation_noise_std(realisations: np.ndarray, inside: np.ndarray) -> float:
    noise = (realisations - realisations.mean(axis=0)) * np.sqrt(len(realisations) / (len(realisations) - 1))
    return float(np.median(noise.std(axis=0)[inside]))


@pytest.fixture(scope="module")
def full_dose() -> np.ndarray:
    return phantom("100")


@pytest.fixture(scope="module")
def inside() -> np.ndarray:
    truth = sitk.GetArrayFromImage(sitk.ReadImage(str(shared_path("lcd_ct_phantom/fbp/ground_truth.mhd"))))
    return truth > 900


@pytest.mark.parametrize("dose, real_label", [(0.1, "010"), (0.55, "055")])
def test_simulated_noise_matches_the_real_lower_dose_scans(full_dose, inside, dose, real_label) -> None:
    simulated = np.stack([simulate_low_dose_hu(full_dose[k:k + 1], 1.0, DoseSimulation(dose=dose, seed=k))[0]
                          for k in range(len(full_dose))])
    real = realisation_noise_std(phantom(real_label), inside)
    ours = realisation_noise_std(simulated, inside)
    assert ours == pytest.approx(real, rel=0.10), f"simulated {ours:.1f} HU vs real {real:.1f} HU at {dose:.0%} dose"
    drift = float((simulated - full_dose).mean(axis=0)[inside].mean())
    assert abs(drift) < 1.0, f"mean HU drifted by {drift:.2f} HU"


def test_added_noise_scales_as_one_over_sqrt_dose(full_dose, inside) -> None:
    settings = dict(electronic_noise=0.0, seed=3)
    added = {dose: float((simulate_low_dose_hu(full_dose[:2], 1.0, DoseSimulation(dose=dose, **settings))
                          - full_dose[:2])
                         .std(axis=(0,))[inside].mean())
             for dose in (0.1, 0.25, 0.5)}
    for dose, std in added.items():
        # Yu et al.: added variance is (1-a)/a times the full-dose quantum variance.
        expected = added[0.5] * np.sqrt(((1 - dose) / dose) / ((1 - 0.5) / 0.5))
        assert std == pytest.approx(expected, rel=0.05)


def test_simulation_is_seeded_and_leaves_the_input_alone(full_dose) -> None:
    source = full_dose[:1].copy()
    first = simulate_low_dose_hu(source, 1.0, DoseSimulation(dose=0.25, seed=1))
    second = simulate_low_dose_hu(source, 1.0, DoseSimulation(dose=0.25, seed=1))
    third = simulate_low_dose_hu(source, 1.0, DoseSimulation(dose=0.25, seed=2))
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, third)
    np.testing.assert_array_equal(source, full_dose[:1])


def test_thickening_averages_slices_and_recentres_the_origin() -> None:
    array = np.arange(6, dtype=np.float32)[:, None, None] * np.ones((6, 2, 2), np.float32)
    volume = Volume(array, (0.5, 0.5, 1.0), (0.0, 0.0, 10.0), (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
    thick = thicken_slices(volume, 2.0)
    np.testing.assert_allclose(thick.array[:, 0, 0], [0.5, 2.5, 4.5])
    assert thick.spacing == (0.5, 0.5, 2.0) and thick.origin[2] == pytest.approx(10.5)
    with pytest.raises(CTDenoiseError, match="not a whole multiple"):
        thicken_slices(volume, 1.5)


def test_dose_out_of_range_is_refused() -> None:
    with pytest.raises(CTDenoiseError, match="between 0 and 1"):
        DoseSimulation(dose=1.5)
