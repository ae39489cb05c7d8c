"""The robustness battery on a small grid: every method scored on every cell, the baselines behave as filters
do, the verdicts apply the issue's thresholds, and the command writes its CSV, table and heat map."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from CTDenoiseLib.evaluation.battery import DIFFUSION, LOW_DOSE, NLM, NLM_ORACLE, classical_methods, run_battery
from CTDenoiseLib.evaluation.battery_grid import Grid
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
    assert len(rows) == 4 * len(grid.conditions()) == 16
    for cell in {row["label"] for row in rows}:
        scores = {row["method"]: row for row in rows if row["label"] == cell}
        assert set(scores) == {LOW_DOSE, NLM, NLM_ORACLE, DIFFUSION}
        assert scores[NLM_ORACLE]["psnr_db"] > scores[LOW_DOSE]["psnr_db"] + 1.0
        assert scores[NLM]["error_std_soft_tissue_hu"] < scores[LOW_DOSE]["error_std_soft_tissue_hu"]
        assert scores[LOW_DOSE]["estimated_noise_std_hu"] == pytest.approx(scores[LOW_DOSE]["true_noise_std_hu"],
                                                                            rel=0.3)
    thick = [row for row in rows if row["thickness"] == "3" and row["method"] == LOW_DOSE]
    thin = [row for row in rows if row["thickness"] == "native" and row["method"] == LOW_DOSE]
    # Thickened before simulating: the anatomy is averaged, the inserted noise is not.
    assert all(row["voxels"] * 2 == other["voxels"] for row, other in zip(thick, thin))
    sharp = [row for row in rows if row["kernel"] == "ram-lak" and row["method"] == LOW_DOSE]
    soft = [row for row in rows if row["kernel"] == "hann" and row["method"] == LOW_DOSE]
    assert all(a["true_noise_std_hu"] > b["true_noise_std_hu"] for a, b in zip(sharp, soft))


def _row(label: str, method: str, psnr: float, ssim: float) -> dict:
    return {"label": label, "reference": "normal dose", "method": method, "psnr_db": psnr, "ssim": ssim}


def test_verdicts_apply_the_thresholds_and_name_the_worst_cell() -> None:
    rows = []
    for label, mine, my_ssim in (("a", 31.0, 0.95), ("b", 30.9, 0.95), ("c", 32.0, 0.80)):
        rows += [_row(label, NLM, 30.0, 0.90), _row(label, DIFFUSION, 29.0, 0.90), _row(label, NLM_ORACLE, 31.2, 0.92),
                 _row(label, "model", mine, my_ssim)]
    verdict = verdicts(rows, "model")
    # a: +1.0 over NLM, SSIM higher, -0.2 to the bound: passes; b: +0.9 over NLM fails; c: SSIM lower fails.
    assert verdict["cells"] == 3 and verdict["cells_meeting_all"] == 1
    assert verdict["worst_gain_over_nlm"][0] == pytest.approx(0.9) and verdict["worst_gain_over_nlm"][1].startswith("b")


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
    assert {row["method"] for row in rows} == {LOW_DOSE, NLM, NLM_ORACLE, DIFFUSION, "stresnet FP32"}
    assert "cells meeting every criterion" in (output / "battery.md").read_text(encoding="utf-8")
    assert (output / "battery.png").read_bytes()[:4] == b"\x89PNG"
    assert "AVX" in result.stdout or "SSE" in result.stdout  # the machine's ISA is stated
    merged = tmp_path / "merged"
    result = subprocess.run([sys.executable, "-m", "CTDenoiseLib", "battery", "--merge", str(output / "battery.csv"),
                             str(output / "battery.csv"), "--output-dir", str(merged)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert len(list(csv.DictReader(open(merged / "battery.csv", encoding="utf-8")))) == 2 * len(rows)


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


def test_tuning_returns_the_candidates_with_the_best_mean_psnr(phantom_case: Path) -> None:
    from CTDenoiseLib.evaluation.battery import DIFFUSION_CHOICES, NLM_STRENGTHS, tune_baselines

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


def test_noise_level_gain_tuning_scores_each_gain_and_refuses_a_blind_model(phantom_case: Path) -> None:
    from CTDenoiseLib.errors import CTDenoiseError
    from CTDenoiseLib.evaluation.noise_gain_tuning import tune_noise_level_gain

    grid = Grid(cases={"synthetic chest": str(phantom_case)}, doses=[0.1], thicknesses=["native"],
                pixels=["native"], exposure_control=[True], kernels=["hann"])
    best, rows = tune_noise_level_gain(grid, "stresnet", gains=(0.5, 1.0, 3.0), log=lambda _: None)
    assert [row["noise_level_gain"] for row in rows] == [0.5, 1.0, 3.0]
    assert best == max(rows, key=lambda row: row["mean_psnr_db"])["noise_level_gain"]
    assert len({round(row["mean_psnr_db"], 3) for row in rows}) == 3  # the gain reaches the network
    with pytest.raises(CTDenoiseError, match="blind"):
        tune_noise_level_gain(grid, "srresnet", log=lambda _: None)
