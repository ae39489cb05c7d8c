"""The shipped models denoise a real chest CT they never saw (LIDC-IDRI-0003) at simulated 10 % dose.

Same measurement as `ctdenoise demo ../shared/data/lidc/LIDC-IDRI-0003/image.nrrd` (window -1024..1900 HU,
scanner padding excluded). The CPU-trained shipped models reach +4.65 (STResNet) and +5.2 dB (SRResNet) there with
this test's noise realisation (seed 11); the project's target is +5 dB. SRResNet is held to it, STResNet (sized
for CPU speed, short of it) to its level; both floors guard against regressions.
"""

from __future__ import annotations

import numpy as np
import pytest

from CTDenoiseLib.evaluation.metrics import psnr, ssim
from CTDenoiseLib.inference.tiled import denoise_hu
from CTDenoiseLib.io.volumes import read_volume
from CTDenoiseLib.models.files import load_model
from CTDenoiseLib.runtime.backends import Choice, make_runner
from CTDenoiseLib.simulation.low_dose import DoseSimulation, simulate_volume

from conftest import shared_path


@pytest.fixture(scope="module")
def lidc_0003():
    normal = read_volume(shared_path("lidc/LIDC-IDRI-0003/image.nrrd"))
    low = simulate_volume(normal, DoseSimulation(dose=0.1, seed=11))
    return normal.array, low.array


@pytest.mark.parametrize("name, floor_db", [("stresnet", 4.5), ("srresnet", 5.0)])
def test_psnr_gain_on_an_unseen_patient(name: str, floor_db: float, lidc_0003) -> None:
    normal, low = lidc_0003
    model = load_model(name)
    denoised = np.rint(denoise_hu(low, make_runner(model, Choice("fp32", "cpu")), model.normalization, model.halo))
    mask = (normal >= -1024) & (normal <= 3071)
    gain = psnr(normal, denoised, mask=mask) - psnr(normal, low, mask=mask)
    assert gain >= floor_db, f"{name}: PSNR gain {gain:.2f} dB"
    assert ssim(normal, denoised, mask=mask) > ssim(normal, low, mask=mask)
