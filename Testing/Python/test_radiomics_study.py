"""The radiomics study end to end on small synthetic nodules, with a stand-in denoiser so that no trained
model is needed: tables, JSON, figure, and the statistics wired to the right pairs."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import ndimage

from CTDenoiseLib.hu import HUNormalization
from CTDenoiseLib.inference.pipeline import Engine
from CTDenoiseLib.io.volumes import Volume, write_volume
from CTDenoiseLib.radiomics import study as radiomics_study
from CTDenoiseLib.runtime.backends import Choice
from CTDenoiseLib.simulation.low_dose import DoseSimulation

pytest.importorskip("radiomics", reason="pyradiomics not installed (pip install pyradiomics-bhklab)")
IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _case(folder: Path, seed: int) -> None:
    """A 64x64 chest-like slab: water disc in air, lung inside, a textured 40 HU nodule of radius 5 voxels."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:8, :64, :64]
    hu = np.where((y - 32) ** 2 + (x - 32) ** 2 < 30**2, 0.0, -1000.0)
    hu[(y - 32) ** 2 + (x - 32) ** 2 < 22**2] = -850.0
    nodule = (z - 4) ** 2 * 4 + (y - 30) ** 2 + (x - 34) ** 2 <= 5**2 + seed
    hu[nodule] = 40.0 + ndimage.gaussian_filter(rng.normal(0, 200, hu.shape), 1.0)[nodule]
    folder.mkdir()
    write_volume(Volume(hu.astype(np.int16), (0.8, 0.8, 2.0), (0.0, 0.0, 0.0), IDENTITY), folder / "image.nrrd")
    write_volume(Volume((nodule * 2).astype(np.uint8), (0.8, 0.8, 2.0), (0.0, 0.0, 0.0), IDENTITY),
                 folder / "mask.nrrd")


def test_study_writes_tables_and_figure_with_consistent_statistics(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cases").mkdir()
    for seed in range(3):
        _case(tmp_path / "cases" / f"case{seed}", seed)
    loaded = SimpleNamespace(normalization=HUNormalization(), halo=2)
    identity = Engine(loaded, lambda tile: tile, Choice("fp32", "cpu"), "torch")  # type: ignore[arg-type]
    monkeypatch.setattr(radiomics_study, "_engines", lambda models: {name: identity for name in models})
    cases = radiomics_study.find_cases([tmp_path / "cases"], "image.nrrd", "mask.nrrd")
    assert [c.name for c in cases] == ["case0", "case1", "case2"]
    summary = radiomics_study.run_study(cases, ["identity"], realisations=2,
                                        simulation=DoseSimulation(dose=0.1, views=64), output_dir=tmp_path / "out",
                                        label=2)  # 64 views: fast, and noisier than the default 720
    assert summary["pairs_per_method"] == 6 and summary["methods"] == ["low dose", "identity"]
    counts = summary["consistent_features"]
    assert counts["identity"] == counts["low dose"] and counts["low dose"]["features"] == 72
    assert counts["low dose"]["ccc"] < 72, "10 % dose noise must move some texture features"
    with open(tmp_path / "out" / "study_agreement.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 72
    with open(tmp_path / "out" / "study_features.csv", newline="") as handle:
        values = [r for r in csv.DictReader(handle) if r["feature"] == "firstorder_Mean"]
    assert len(values) == 3 + 3 * 2 * 2
    low = [float(r["value"]) for r in values if r["method"] == "low dose"]
    assert low == [float(r["value"]) for r in values if r["method"] == "identity"]  # identity changes nothing
    normal = {r["case"]: float(r["value"]) for r in values if r["method"] == "normal dose"}
    mean_row = next(r for r in rows if r["feature"] == "firstorder_Mean" and r["method"] == "low dose")
    pairs = [(float(r["value"]), normal[r["case"]]) for r in values if r["method"] == "low dose"]
    expected = np.mean([100 * (a - b) / abs(b) for a, b in pairs])
    assert float(mean_row["mean_relative_change_percent"]) == pytest.approx(expected, rel=1e-4)
    assert (tmp_path / "out" / "radiomics_study.png").stat().st_size > 20_000
    report = json.loads((tmp_path / "out" / "study.json").read_text())
    assert "sample size" in report["note"] and report["settings"]["binWidth"] == 25
    assert {q["image"] for q in report["quality_summary"]} == {"low dose", "identity"}
