"""The robustness battery on a small grid: every method scored on every cell, the baselines behave as filters
do (NLM told each slice's noise beats NLM told one level where the noise changes along z, and its upper bound beats
both), the verdicts apply the issue's thresholds against the per-slice NLM, an optional BM3D row runs only where
its package is installed, and the command writes its CSV, table and heat map."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from CTDenoiseLib.evaluation.battery import LOW_DOSE, run_battery
from CTDenoiseLib.evaluation.battery_baselines import (
    BM3D,
    DIFFUSION,
    NLM_PER_SLICE,
    NLM_PER_VOLUME,
    NLM_UPPER_BOUND,
    UPPER_BOUND_STRENGTHS,
    classical_methods,
)
from CTDenoiseLib.evaluation.battery_grid import Condition, Grid
from CTDenoiseLib.evaluation.battery_report import verdicts
from CTDenoiseLib.evaluation.classical_denoisers import DiffusionSettings, NlmSettings


@pytest.fixture(scope="module")
def phantom_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from CTDenoiseLib.io.volumes import write_volume
    from CTDenoiseLib.simulation.phantom import chest_phantom

    path = tmp_path_factory.mktemp("battery") / "chest.nrrd"
    write_volume(chest_phantom((6, 96, 96), 1.5), path)
    return path


def small_grid(case: Path) -> Grid:
    return Grid(cases={"synthetic chest": str(case)}, doses=[0.1], thicknesses=["native", "3"], pixels=["native"],
                exposure_control=[True], kernels=["hann", "ram-lak"])


def test_every_method_is_scored_on_every_cell_and_the_filters_help(phantom_case: Path) -> None:
    grid = small_grid(phantom_case)
    rows = run_battery(grid, classical_methods(NlmSettings(), DiffusionSettings()), log=lambda _: None)
    assert len(rows) == 5 * len(grid.conditions()) == 20
    for cell in {row["label"] for row in rows}:
        scores = {row["method"]: row for row in rows if row["label"] == cell}
        assert set(scores) == {LOW_DOSE, NLM_PER_SLICE, NLM_PER_VOLUME, NLM_UPPER_BOUND, DIFFUSION}
        assert scores[NLM_UPPER_BOUND]["psnr_db"] > scores[LOW_DOSE]["psnr_db"] + 1.0
        assert scores[NLM_UPPER_BOUND]["psnr_db"] >= scores[NLM_PER_SLICE]["psnr_db"] - 0.05
        assert scores[NLM_PER_SLICE]["error_std_soft_tissue_hu"] < scores[LOW_DOSE]["error_std_soft_tissue_hu"]
        assert scores[LOW_DOSE]["estimated_noise_std_hu"] == pytest.approx(scores[LOW_DOSE]["true_noise_std_hu"],
                                                                            rel=0.3)
        # The upper bound names the strength it chose; the other rows chose nothing.
        assert scores[NLM_UPPER_BOUND]["setting"] in {f"strength {s:g}" for s in UPPER_BOUND_STRENGTHS}
        assert scores[NLM_PER_SLICE]["setting"] == ""
        low = scores[LOW_DOSE]
        assert 0 < low["estimated_noise_std_hu_slice_min"] <= low["estimated_noise_std_hu_slice_max"]
        assert 0 < low["true_noise_std_hu_slice_min"] <= low["true_noise_std_hu_slice_max"]
    thick = [row for row in rows if row["thickness"] == "3" and row["method"] == LOW_DOSE]
    thin = [row for row in rows if row["thickness"] == "native" and row["method"] == LOW_DOSE]
    # Thickened before simulating: the anatomy is averaged, the inserted noise is not.
    assert all(row["voxels"] * 2 == other["voxels"] for row, other in zip(thick, thin))
    sharp = [row for row in rows if row["kernel"] == "ram-lak" and row["method"] == LOW_DOSE]
    soft = [row for row in rows if row["kernel"] == "hann" and row["method"] == LOW_DOSE]
    assert all(a["true_noise_std_hu"] > b["true_noise_std_hu"] for a, b in zip(sharp, soft))


def _row(label: str, method: str, psnr: float, ssim: float) -> dict:
    return {"label": label, "reference": "normal dose", "method": method, "psnr_db": psnr, "ssim": ssim}


def test_verdicts_apply_the_thresholds_against_the_per_slice_nlm_and_name_the_worst_cell() -> None:
    rows = []
    for label, mine, my_ssim in (("a", 31.0, 0.95), ("b", 30.9, 0.95), ("c", 32.0, 0.80)):
        # The per-volume NLM is 1 dB weaker than the per-slice one: beating it is not enough.
        rows += [_row(label, NLM_PER_SLICE, 30.0, 0.90), _row(label, NLM_PER_VOLUME, 29.0, 0.91),
                 _row(label, DIFFUSION, 29.0, 0.90), _row(label, NLM_UPPER_BOUND, 31.2, 0.92),
                 _row(label, "model", mine, my_ssim)]
    verdict = verdicts(rows, "model")
    # a: +1.0 over the reference, SSIM higher, -0.2 to the bound: passes; b: +0.9 over it fails (though +1.9 over
    # the per-volume NLM); c: SSIM lower fails.
    assert verdict["cells"] == 3 and verdict["cells_meeting_all"] == 1
    assert verdict["worst_gain_over_reference"][0] == pytest.approx(0.9)
    assert verdict["worst_gain_over_reference"][1].startswith("b")
    assert verdict["mean_gain_over_reference"] == pytest.approx((1.0 + 0.9 + 2.0) / 3)
    assert verdict["worst_vs_upper_bound"][0] == pytest.approx(-0.3)
    bound_too_far = [dict(row, psnr_db=31.6) if row["method"] == NLM_UPPER_BOUND else row for row in rows]
    assert verdicts(bound_too_far, "model")["cells_meeting_all"] == 0  # a: 0.6 dB below the upper bound


def _noise_changing_along_z(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A chest phantom (1.5 mm voxels) with correlated noise of ``levels[z]`` HU on slice z."""
    from scipy import ndimage

    from CTDenoiseLib.simulation.phantom import chest_phantom

    reference = chest_phantom((len(levels), 128, 128), 1.5).array.astype(np.float32)
    noise = ndimage.gaussian_filter(np.random.default_rng(0).normal(size=reference.shape), (0, 0.8, 0.8))
    noise *= (levels / noise.reshape(len(levels), -1).std(axis=1))[:, None, None]
    return reference, (reference + noise).astype(np.float32)


def test_nlm_told_each_slice_its_noise_beats_one_level_per_volume_and_the_upper_bound_beats_both() -> None:
    from CTDenoiseLib.evaluation.battery import scene_of, score

    levels = np.geomspace(10.0, 120.0, 6)  # a 12x change along z, as from the shoulders to mid-chest and beyond
    reference, low = _noise_changing_along_z(levels)
    scene = scene_of(Condition("synthetic chest", 0.1), reference, low, (1.5, 1.5, 1.5))
    np.testing.assert_allclose(scene.true_noise_per_slice, levels, rtol=0.15)
    # The phantom has little flat tissue per slice, so slices pool a neighbour or two: the estimate still rises.
    assert np.all(np.diff(scene.estimated_noise_per_slice) > 0)
    methods = classical_methods(NlmSettings(), DiffusionSettings())
    psnr = {name: score(scene, methods[name](scene))["psnr_db"]
            for name in (LOW_DOSE, NLM_PER_SLICE, NLM_PER_VOLUME, NLM_UPPER_BOUND)}
    assert psnr[NLM_PER_SLICE] > psnr[NLM_PER_VOLUME] + 1.0
    assert psnr[NLM_UPPER_BOUND] >= psnr[NLM_PER_SLICE]
    assert psnr[NLM_PER_VOLUME] > psnr[LOW_DOSE]
    np.testing.assert_array_equal(scene.low, low)  # the methods denoise a copy


def test_bm3d_runs_only_where_its_package_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.machinery
    import types

    from CTDenoiseLib.evaluation.battery import scene_of
    from CTDenoiseLib.evaluation.battery_baselines import optional_methods
    from CTDenoiseLib.evaluation.battery_report import markdown

    monkeypatch.setitem(sys.modules, "bm3d", None)  # not importable, whatever this machine has
    methods, skipped = optional_methods()
    assert methods == {} and "non-commercial" in skipped[BM3D]
    rows = [dict(_row("a", name, 30.0, 0.9), seconds=1.0, error_std_soft_tissue_hu=10.0)
            for name in (LOW_DOSE, NLM_PER_SLICE, DIFFUSION, NLM_UPPER_BOUND)]
    assert f"Not run: {BM3D}: the bm3d package is not installed" in markdown(rows, skipped=skipped)
    # Installed: the row runs BM3D on each slice, told that slice's estimated noise (a stand-in records the calls).
    calls = []
    fake = types.ModuleType("bm3d")
    fake.__spec__ = importlib.machinery.ModuleSpec("bm3d", None)
    fake.bm3d = lambda image, sigma_psd: calls.append(sigma_psd) or image
    monkeypatch.setitem(sys.modules, "bm3d", fake)
    methods, skipped = optional_methods()
    assert set(methods) == {BM3D} and skipped == {}
    reference, low = _noise_changing_along_z(np.geomspace(10.0, 120.0, 6))
    scene = scene_of(Condition("synthetic chest", 0.1), reference, low, (1.5, 1.5, 1.5))
    np.testing.assert_allclose(methods[BM3D](scene), low, atol=0.01)  # HU -> BM3D's scale -> HU
    np.testing.assert_allclose(np.array(calls) * 2000.0, scene.estimated_noise_per_slice)


def test_the_command_writes_csv_markdown_and_heat_map(phantom_case: Path, tmp_path: Path) -> None:
    grid_file = tmp_path / "grid.json"
    grid_file.write_text(json.dumps({"cases": {"synthetic chest": str(phantom_case)}, "doses": [0.25],
                                     "thicknesses": ["native"], "pixels": ["native"], "exposure_control": [True],
                                     "kernels": ["hann"]}))
    output = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "CTDenoiseLib", "battery", "--grid", str(grid_file), "--models",
                             "stresnet", "--precisions", "fp32", "--output-dir", str(output)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(output / "battery.csv", encoding="utf-8")))
    assert {row["method"] for row in rows} - {BM3D} == {LOW_DOSE, NLM_PER_SLICE, NLM_PER_VOLUME, NLM_UPPER_BOUND,
                                                         DIFFUSION, "stresnet FP32"}
    summary = (output / "battery.md").read_text(encoding="utf-8")
    assert "cells meeting every criterion" in summary and f"Reference row: {NLM_PER_SLICE}" in summary
    assert BM3D in {row["method"] for row in rows} or f"Not run: {BM3D}" in summary
    assert (output / "battery.png").read_bytes()[:4] == b"\x89PNG"
    assert "AVX" in result.stdout or "SSE" in result.stdout  # the machine's ISA is stated
    merged = tmp_path / "merged"
    result = subprocess.run([sys.executable, "-m", "CTDenoiseLib", "battery", "--merge", str(output / "battery.csv"),
                             str(output / "battery.csv"), "--output-dir", str(merged)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert len(list(csv.DictReader(open(merged / "battery.csv", encoding="utf-8")))) == 2 * len(rows)
    older = tmp_path / "older.csv"  # a CSV from before the per-slice row: no verdicts without the reference
    with open(older, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(row for row in rows if row["method"] != NLM_PER_SLICE)
    result = subprocess.run([sys.executable, "-m", "CTDenoiseLib", "battery", "--merge", str(older),
                             "--output-dir", str(tmp_path / "older")], capture_output=True, text=True, timeout=600)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert NLM_PER_SLICE in result.stderr and "Rerun the battery" in result.stderr


def test_the_phantom_enters_with_its_real_doses_and_two_references() -> None:
    from CTDenoiseLib.evaluation.battery import make_scene
    from CTDenoiseLib.evaluation.battery_grid import Condition

    from conftest import shared_path

    folder = shared_path("lcd_ct_phantom")
    grid = Grid(phantom=str(folder))
    scene = make_scene(Condition("MITA phantom", 0.1, real_dose=True), grid, {})
    assert scene.low.shape == scene.reference.shape == (10, 256, 256)
    assert np.all(scene.reference == scene.reference[0])  # noise-free truth, the same on every slice
    assert set(scene.extra_references) == {"100 % dose mean"}
    assert 55 < scene.true_noise_std < 80  # the real 10 % dose scans: about 65 HU in the data's README
    assert scene.estimated_noise_std == pytest.approx(scene.true_noise_std, rel=0.15)
    # Ten independent realisations, each slice with enough flat tissue of its own.
    assert np.all(scene.estimate_slices == 1)
    assert scene.estimated_noise_per_slice == pytest.approx(np.full(10, scene.true_noise_std), rel=0.15)
    assert scene.true_noise_per_slice.shape == (10,)
    # A quick grid's crop keeps the central slices of the per-slice noise too.
    rows = run_battery(Grid(phantom=str(folder), phantom_doses=[0.1], max_slices=4, crop=64),
                       {LOW_DOSE: lambda cropped: cropped.low}, log=lambda _: None)
    central = scene.estimated_noise_per_slice[3:7]
    assert rows[0]["estimated_noise_std_hu_slice_min"] == pytest.approx(central.min())
    assert rows[0]["estimated_noise_std_hu_slice_max"] == pytest.approx(central.max())


def test_tuning_returns_the_candidates_with_the_best_mean_psnr(phantom_case: Path) -> None:
    from CTDenoiseLib.evaluation.battery_baselines import DIFFUSION_CHOICES, NLM_STRENGTHS, tune_baselines

    grid = Grid(cases={"synthetic chest": str(phantom_case)}, doses=[0.1], thicknesses=["native"],
                pixels=["native"], exposure_control=[True], kernels=["hann"])
    best_nlm, best_diffusion, rows = tune_baselines(grid, log=lambda _: None)
    assert len(rows) == len(NLM_STRENGTHS) + len(DIFFUSION_CHOICES)
    nlm_rows = [row for row in rows if row["filter"] == "nlm"]
    diffusion_rows = [row for row in rows if row["filter"] == "diffusion"]
    assert best_nlm.strength == max(nlm_rows, key=lambda row: row["mean_psnr_db"])["strength"]
    best = max(diffusion_rows, key=lambda row: row["mean_psnr_db"])
    assert (best_diffusion.iterations, best_diffusion.conductance) == (best["iterations"], best["conductance"])
    assert len({row["mean_psnr_db"] for row in nlm_rows}) > 1  # the strength changes the result


def test_noise_level_gain_tuning_scores_each_gain_and_refuses_a_blind_model(phantom_case: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from CTDenoiseLib.errors import CTDenoiseError
    from CTDenoiseLib.evaluation.noise_gain_tuning import tune_noise_level_gain

    from tiny_models import register_tiny_models

    # every shipped model is noise-conditioned since SRResNet was retrained: a blind one is registered here
    blind = register_tiny_models(tmp_path / "models", names=("srresnet-blind",))
    monkeypatch.setenv("CTDENOISE_MODEL_DIRS", str(blind))

    grid = Grid(cases={"synthetic chest": str(phantom_case)}, doses=[0.1], thicknesses=["native"],
                pixels=["native"], exposure_control=[True], kernels=["hann"])
    best, rows = tune_noise_level_gain(grid, "stresnet", gains=(0.5, 1.0, 3.0), log=lambda _: None)
    assert [row["noise_level_gain"] for row in rows] == [0.5, 1.0, 3.0]
    assert best == max(rows, key=lambda row: row["mean_psnr_db"])["noise_level_gain"]
    assert len({round(row["mean_psnr_db"], 3) for row in rows}) == 3  # the gain reaches the network
    with pytest.raises(CTDenoiseError, match="blind"):
        tune_noise_level_gain(grid, "srresnet-blind", log=lambda _: None)
