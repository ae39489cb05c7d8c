"""``--adapt``: recorrupted-to-recorrupted fine-tuning of a copy of the network on the scan it denoises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from CTDenoiseLib.errors import CTDenoiseError
from CTDenoiseLib.evaluation.metrics import psnr
from CTDenoiseLib.inference.adaptation import Adaptation, adapt_model
from CTDenoiseLib.models.files import load_model
from CTDenoiseLib.noise.estimate import estimate_noise_per_slice
from CTDenoiseLib.simulation.kernels import KERNELS
from CTDenoiseLib.simulation.low_dose import DoseSimulation, simulate_low_dose_hu
from CTDenoiseLib.simulation.noise_field import nearest_kernel, noise_field, soft_tissue
from CTDenoiseLib.simulation.phantom import chest_phantom

from conftest import shared_path
from tiny_models import register_tiny_models

WINDOW = (-1000.0, 1000.0)


@pytest.fixture(scope="module")
def chest() -> np.ndarray:
    return chest_phantom((4, 160, 160), spacing_mm=2.0).array.astype(np.float32)


def field_grain(field: np.ndarray, mask: np.ndarray) -> float:
    """sqrt(1 - correlation of horizontal neighbours) of a noise field inside ``mask`` (1: white, lower: coarser)."""
    difference = field[..., 1:] - field[..., :-1]
    inside = mask[..., 1:] & mask[..., :-1]
    return float(np.std(difference[inside]) / (np.sqrt(2.0) * np.std(field[..., 1:][inside])))


def noisy(clean: np.ndarray, kernel: str, dose: float = 0.1) -> np.ndarray:
    return simulate_low_dose_hu(clean, 2.0, DoseSimulation(dose=dose, kernel=kernel, seed=3))


def test_a_noise_field_has_each_slice_s_level_in_soft_tissue_and_the_kernel_s_grain(chest: np.ndarray) -> None:
    levels = np.array([15.0, 30.0, 45.0, 60.0])
    mask = soft_tissue(chest)
    fields = {kernel: noise_field(chest, levels, 2.0, kernel, seed=1) for kernel in ("hann", "ram-lak")}
    own = estimate_noise_per_slice(chest).std_hu
    for field in fields.values():
        seen = np.sqrt(estimate_noise_per_slice(chest + field).std_hu ** 2 - own ** 2)  # as the estimator sees it
        np.testing.assert_allclose(seen, levels, rtol=0.03)
        plain = [np.std(slice_field[slice_mask]) for slice_field, slice_mask in zip(field, mask)]
        np.testing.assert_allclose(plain, levels, rtol=0.25)  # the estimator reads this texture a little high
    assert field_grain(fields["hann"], mask) < field_grain(fields["ram-lak"], mask) - 0.2  # coarse vs fine grain
    assert not np.allclose(noise_field(chest, levels, 2.0, "hann", seed=2), fields["hann"])


@pytest.mark.parametrize("kernel", ["hann", "ram-lak"])
def test_the_noise_texture_is_recognised_from_the_scan_alone(chest: np.ndarray, kernel: str) -> None:
    assert nearest_kernel(noisy(chest, kernel), 2.0) == kernel


def test_adaptation_learns_to_denoise_from_the_noisy_scan_alone_and_leaves_the_original(
        chest: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A tiny untrained network near the identity: whatever denoising it does afterwards, it learned from the
    # noisy scan (the clean one is only used to score). A wrong target (y + n/a) would teach it to add noise.
    monkeypatch.setenv("CTDENOISE_MODEL_DIRS", str(register_tiny_models(tmp_path, ("stresnet",), features=8)))
    loaded = load_model("stresnet")
    before = {name: value.clone() for name, value in loaded.module.state_dict().items()}
    scan = noisy(chest, "hann", dose=0.02)
    settings = Adaptation(steps=150, learning_rate=3e-3, patch=(4, 64, 64), batch=4)
    adapted, report = adapt_model(loaded, scan, None, settings, pixel_mm=2.0)

    def run(module: torch.nn.Module) -> np.ndarray:
        with torch.no_grad():
            given = torch.from_numpy(loaded.normalization.normalise(scan))[None, None]
            return loaded.normalization.denormalise(module(given)[0, 0].numpy())

    body = chest > -500
    assert psnr(chest, run(adapted.module), WINDOW, body) > psnr(chest, run(loaded.module), WINDOW, body) + 1.0
    for name, value in loaded.module.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert report.steps == 150 and report.kernel in KERNELS and report.last_loss < report.first_loss
    assert report.event()["event"] == "adapted" and "150 steps" in report.summary


def test_a_scan_without_soft_tissue_cannot_be_adapted_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTDENOISE_MODEL_DIRS", str(register_tiny_models(tmp_path, ("stresnet",))))
    lung = np.random.default_rng(0).normal(-850, 30, (4, 64, 64)).astype(np.float32)
    with pytest.raises(CTDenoiseError, match="noise level could not be measured"):
        adapt_model(load_model("stresnet"), lung, None, Adaptation(steps=2))


def test_int8_is_refused_and_auto_runs_fp32_when_adapting(monkeypatch: pytest.MonkeyPatch) -> None:
    from CTDenoiseLib.inference import pipeline
    from CTDenoiseLib.runtime.backends import Choice

    with pytest.raises(CTDenoiseError, match="INT8 cannot run"):
        pipeline.prepare_engine("stunet", "int8", "cpu", adaptation=Adaptation())
    monkeypatch.setattr(pipeline, "choose_precision", lambda *args: Choice("int8", "cpu", "precision auto: INT8"))
    engine = pipeline.prepare_engine("stunet", "auto", "cpu", adaptation=Adaptation(steps=7))
    assert engine.choice.precision == "fp32" and "--adapt" in engine.choice.note
    assert engine.event()["adapt_steps"] == 7 and "adapted to each scan first (7 steps)" in engine.description
    with pytest.raises(CTDenoiseError, match="INT8 cannot run"):
        pipeline.prepare_engine("stunet", "int8", "cpu").adapted_to(np.zeros((4, 32, 32), np.float32))


def ctdenoise(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "CTDenoiseLib", *args], capture_output=True, text=True, timeout=600)


def test_denoise_adapt_reports_the_adaptation_and_records_it_in_the_header(lidc_crop: Path, tmp_path: Path) -> None:
    before = lidc_crop.read_bytes()
    output = tmp_path / "adapted.nrrd"
    result = ctdenoise("denoise", str(lidc_crop), str(output), "--model", "stunet", "--adapt", "--adapt-steps", "4",
                       "--progress", "json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    engine = next(event for event in events if event["event"] == "engine")
    adapted = [event for event in events if event["event"] == "adapted"]
    assert engine["precision"] == "fp32" and engine["adapt_steps"] == 4
    assert len(adapted) == 1 and adapted[0]["steps"] == 4 and adapted[0]["seconds"] > 0
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(output))
    reader.ReadImageInformation()
    assert "4 steps of recorrupted-to-recorrupted" in reader.GetMetaData("ctdenoise_adaptation")
    assert lidc_crop.read_bytes() == before


def test_adapt_steps_without_adapt_is_one_clear_error(lidc_crop: Path, tmp_path: Path) -> None:
    result = ctdenoise("denoise", str(lidc_crop), str(tmp_path / "out.nrrd"), "--adapt-steps", "4")
    assert result.returncode != 0 and "no --adapt was asked for" in result.stderr
    assert not (tmp_path / "out.nrrd").exists()


def test_adaptation_brings_the_network_level_with_nlm_on_the_real_phantom_scans() -> None:
    # The MITA phantom's real 55 % dose scans (10 realisations, signal present: never trained on), against the
    # mean of its 100 % dose scans. Measured (300 steps, docs/evaluation.md): FP32 46.16 -> 48.05 dB, NLM 47.64.
    from CTDenoiseLib.evaluation.battery import make_scene, score
    from CTDenoiseLib.evaluation.battery_grid import Condition, Grid
    from CTDenoiseLib.inference.pipeline import prepare_engine

    grid = Grid(phantom=str(shared_path("lcd_ct_phantom")))
    scene = make_scene(Condition("MITA phantom", 0.55, real_dose=True), grid, {})
    mean = scene.extra_references["100 % dose mean"]
    engine = prepare_engine("stunet", "fp32", "cpu", "torch", adaptation=Adaptation(steps=60))  # no OpenVINO compiles
    plain = score(scene, engine.denoise(scene.low), mean)["psnr_db"]
    adapted = score(scene, engine.adapted_to(scene.low).denoise(scene.low), mean)["psnr_db"]
    assert adapted > plain + 0.6, (plain, adapted)


def test_a_derived_dicom_series_says_its_network_was_adapted_to_the_scan() -> None:
    from CTDenoiseLib.io.dicom_output import Derivation

    adapted = Derivation("stunet", "fp32", 1.0, "ab" * 32, adaptation_steps=300)
    assert adapted.series_description("CHEST") == "CTDenoise stunet adapted fp32 strength 1 (CHEST)"
    assert "adapted to this scan (300 steps" in adapted.derivation_description()
    plain = Derivation("stunet", "fp32")
    assert "adapted" not in plain.series_description() + plain.derivation_description()


def test_detectability_scores_an_adapted_row_with_one_network_for_both_classes() -> None:
    from CTDenoiseLib.evaluation.detectability import AdaptedModel, DetectabilitySettings, make_methods, method_names

    settings = DetectabilitySettings(models=["stunet"], precisions=["fp32"], nlm=False, adapt_steps=5)
    assert method_names(settings) == ["as acquired", "stunet fp32", "stunet fp32 adapted"]
    box = (slice(0, 8), slice(0, 8))
    adapted = make_methods(settings, box)["stunet fp32 adapted"]
    assert isinstance(adapted, AdaptedModel) and adapted.steps == 5
    with pytest.raises(RuntimeError, match="prepare"):
        adapted(np.zeros((2, 8, 8), np.float32))  # never a network adapted to another image set
    assert "stunet fp32 adapted" not in method_names(DetectabilitySettings(models=["stunet"], precisions=["fp32"]))
