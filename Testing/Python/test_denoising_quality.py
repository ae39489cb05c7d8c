"""The shipped models denoise a real chest CT they never saw (LIDC-IDRI-0003) at simulated 10 % dose.

Same measurement as `ctdenoise demo ../shared/data/lidc/LIDC-IDRI-0003/image.nrrd` (window -1024..1900 HU,
scanner padding excluded), with the ``hann`` kernel's noise and this test's realisation (seed 11). Measured with the
shipped weights: STUNet +4.70 dB, SRResNet-3D +4.96 dB, STResNet +4.48 dB; each is held 0.2-0.4 dB below. (The
blind SRResNet shipped until 2026-12-07 reached +5.2 dB here, the one regime it was trained for, and +2.62 dB on the
battery against +7.34 for the retrained one: docs/training.md section 21.) The second test holds STResNet to
what it was retrained for: noise of a sharp (ramp, lung/bone-like) kernel, where the previous STResNet was 6 dB
behind non-local means.
"""

from __future__ import annotations

import numpy as np
import pytest

from CTDenoiseLib.evaluation.battery import model_methods, run_battery
from CTDenoiseLib.evaluation.battery_baselines import NLM_PER_VOLUME, classical_methods
from CTDenoiseLib.evaluation.battery_grid import NATIVE, Grid
from CTDenoiseLib.evaluation.classical_denoisers import DiffusionSettings, NlmSettings
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
    low = simulate_volume(normal, DoseSimulation(dose=0.1, seed=11, kernel="hann"))
    return normal.array, low.array


@pytest.mark.parametrize("name, floor_db", [("stresnet", 4.3), ("srresnet", 4.6), ("stunet", 4.4)])
def test_psnr_gain_on_an_unseen_patient(name: str, floor_db: float, lidc_0003) -> None:
    normal, low = lidc_0003
    model = load_model(name)
    denoised = np.rint(denoise_hu(low, make_runner(model, Choice("fp32", "cpu")), model.normalization, model.halo))
    mask = (normal >= -1024) & (normal <= 3071)
    gain = psnr(normal, denoised, mask=mask) - psnr(normal, low, mask=mask)
    assert gain >= floor_db, f"{name}: PSNR gain {gain:.2f} dB"
    assert ssim(normal, denoised, mask=mask) > ssim(normal, low, mask=mask)


def test_stresnet_beats_non_local_means_on_sharp_kernel_noise() -> None:
    grid = Grid(cases={"LIDC-IDRI-0003": str(shared_path("lidc/LIDC-IDRI-0003/image.nrrd"))}, doses=[0.1],
                thicknesses=[NATIVE], pixels=[NATIVE], exposure_control=[True], kernels=["ram-lak"])
    methods = {NLM_PER_VOLUME: classical_methods(NlmSettings(), DiffusionSettings())[NLM_PER_VOLUME],
               **model_methods(["stresnet"], ["fp32"])}
    rows = {row["method"]: row for row in run_battery(grid, methods, log=lambda _: None)}
    network, nlm = rows["stresnet FP32"], rows[NLM_PER_VOLUME]
    assert network["psnr_db"] >= nlm["psnr_db"] + 0.3, (network["psnr_db"], nlm["psnr_db"])
    assert network["ssim"] >= nlm["ssim"], (network["ssim"], nlm["ssim"])
