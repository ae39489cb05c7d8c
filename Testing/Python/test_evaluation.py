"""Image-quality evaluation: the seed's convention on data with known answers, the homogeneous-region noise,
LPIPS reported as unavailable with a reason, and mean +/- std over a case list."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from CTDenoiseLib.cli import main
from CTDenoiseLib.errors import CTDenoiseError
from CTDenoiseLib.evaluation.lpips_metric import lpips_unavailable_reason
from CTDenoiseLib.evaluation.metrics import find_homogeneous_roi, noise_std, seed_psnr_ssim
from CTDenoiseLib.evaluation.quality import evaluate_case, parse_roi, summarise
from CTDenoiseLib.io.volumes import Volume, write_volume

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _phantom(seed: int = 0) -> Volume:
    """Air around a water box (0 HU, flat) next to a textured lung-like region: 10 x 48 x 48 voxels of 1 mm."""
    rng = np.random.default_rng(seed)
    hu = np.full((10, 48, 48), -1000.0)
    hu[:, 8:40, 8:24] = 0.0
    hu[:, 8:40, 24:40] = -700.0 + rng.normal(0, 150, (10, 32, 16))
    return Volume(hu.astype(np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), IDENTITY)


def test_seed_convention_on_a_known_offset() -> None:
    reference = _phantom().array
    # +15 HU everywhere inside -1000..500 is 15 / 1500 * 255 = 2.55 grey levels: PSNR = 20 log10(255 / 2.55) = 40 dB
    shifted = np.clip(reference, -985, None) + 15.0
    result = seed_psnr_ssim(np.clip(reference, -985, None), shifted)
    assert result["psnr"] == pytest.approx(40.0, abs=1e-9)
    for orientation in ("axial", "coronal", "sagittal"):
        assert result[f"psnr_{orientation}"] == pytest.approx(40.0, abs=1e-9)
    assert seed_psnr_ssim(reference, reference + 0.0)["psnr"] == math.inf
    same = seed_psnr_ssim(reference, reference + np.where(reference > -900, 1e-3, 0))
    assert same["ssim"] == pytest.approx(1.0, abs=1e-6)
    # Values outside the window do not count: -2000 and -1000 HU are both 0 after mapping.
    padded = reference.copy()
    padded[:, :4] = -2000
    assert seed_psnr_ssim(reference, padded)["psnr"] == math.inf


def test_noise_is_measured_in_the_flat_region_found_in_the_reference() -> None:
    reference = _phantom()
    roi = find_homogeneous_roi(reference.array, reference.spacing, size_mm=6)
    assert roi is not None and all(s.stop - s.start == 6 for s in roi)
    assert 8 <= roi[1].start and roi[1].stop <= 40 and 8 <= roi[2].start and roi[2].stop <= 24  # inside the water
    noisy = reference.array + np.random.default_rng(1).normal(0, 25, reference.array.shape)
    assert noise_std(noisy, roi) == pytest.approx(25, rel=0.15)
    assert find_homogeneous_roi(np.full((5, 20, 20), -1000.0), (1.0, 1.0, 1.0)) is None  # no soft tissue


def test_lpips_is_reported_unavailable_with_its_reason() -> None:
    reason = lpips_unavailable_reason()
    if not reason:
        pytest.skip("lpips works here; the unavailable path is not reachable")
    reference = _phantom()
    result = evaluate_case(reference, {"same": reference.array}, with_lpips=True)
    assert "lpips" in result.lpips_note and math.isnan(result.rows[0]["lpips"])


def test_evaluate_case_ranks_a_noisier_image_lower_and_checks_shapes() -> None:
    reference = _phantom()
    rng = np.random.default_rng(2)
    images = {"noisy": reference.array + rng.normal(0, 60, reference.array.shape),
              "better": reference.array + rng.normal(0, 20, reference.array.shape)}
    rows = evaluate_case(reference, images, with_lpips=False).rows
    noisy, better = rows
    assert better["psnr_db"] > noisy["psnr_db"] + 8 and better["ssim"] > noisy["ssim"]
    assert better["seed_psnr_db"] > noisy["seed_psnr_db"] + 8 and better["seed_ssim"] > noisy["seed_ssim"]
    assert noisy["noise_std_hu"] == pytest.approx(60, rel=0.2)
    with pytest.raises(CTDenoiseError, match="shape"):
        evaluate_case(reference, {"small": reference.array[:5]}, with_lpips=False)


def test_summary_is_mean_and_sample_std() -> None:
    rows = [{"image": "a", "psnr_db": v, "ssim": 0.5, "seed_psnr_db": 1.0, "seed_ssim": 1.0, "lpips": math.nan,
             "noise_std_hu": 1.0} for v in (30.0, 32.0, 34.0)]
    (entry,) = summarise(rows)
    assert entry["cases"] == 3 and entry["psnr_db_mean"] == 32.0 and entry["psnr_db_std"] == pytest.approx(2.0)
    assert math.isnan(entry["lpips_mean"])


def test_noise_roi_text() -> None:
    assert parse_roi("1:3,0:10,5:9", (10, 48, 48)) == (slice(1, 3), slice(0, 10), slice(5, 9))
    with pytest.raises(CTDenoiseError, match="outside the volume"):
        parse_roi("1:30,0:10,5:9", (10, 48, 48))
    with pytest.raises(CTDenoiseError, match="z0:z1,y0:y1,x0:x1"):
        parse_roi("1-3", (10, 48, 48))


def test_command_over_a_case_list(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rng = np.random.default_rng(3)
    with open(tmp_path / "cases.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case", "reference", "lowdose", "denoised"])
        for case in range(2):
            reference = _phantom(case)
            write_volume(reference, tmp_path / f"nd{case}.nrrd")
            for name, sigma in (("ld", 60), ("dn", 20)):
                noisy = reference.array + rng.normal(0, sigma, reference.array.shape)
                write_volume(reference.with_array(noisy.astype(np.float32)), tmp_path / f"{name}{case}.nrrd")
            writer.writerow([f"c{case}", f"nd{case}.nrrd", f"ld{case}.nrrd", f"dn{case}.nrrd"])
    status = main(["evaluate", "--cases", str(tmp_path / "cases.csv"), "--output-dir", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    assert status == 0 and "-1024..1900" in printed and "-1000..500" in printed and "LPIPS" in printed
    report = json.loads((tmp_path / "out" / "quality.json").read_text())
    assert len(report["per_volume"]) == 4 and [s["image"] for s in report["summary"]] == ["lowdose", "denoised"]
    low, denoised = report["summary"]
    assert low["cases"] == 2 and denoised["psnr_db_mean"] > low["psnr_db_mean"]
    assert low["noise_std_hu_mean"] == pytest.approx(60, rel=0.2)


def test_lpips_path_feeds_windowed_three_channel_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """The code path used where lpips works, with a stand-in network that records its inputs."""
    import sys
    from types import SimpleNamespace

    import torch

    from CTDenoiseLib.evaluation import lpips_metric

    seen = []

    class Network:
        def __init__(self, net: str, verbose: bool) -> None:
            assert net == "alex"

        def eval(self) -> "Network":
            return self

        def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            seen.append((a.shape, float(a.min()), float(a.max())))
            return (a - b).abs().mean(dim=(1, 2, 3), keepdim=True)

    monkeypatch.setitem(sys.modules, "lpips", SimpleNamespace(LPIPS=Network))
    lpips_metric._model.cache_clear()
    try:
        reference = _phantom().array
        assert lpips_metric.lpips_unavailable_reason() == ""
        # +150 HU inside the -1000..500 window is 0.2 on the -1..1 scale wherever it stays inside the window
        shifted = np.clip(reference, -1000, 350) + 150
        score = lpips_metric.lpips_axial(np.clip(reference, -1000, 350), shifted)
    finally:
        lpips_metric._model.cache_clear()
    assert score == pytest.approx(0.2, abs=1e-6)
    assert seen[0][0] == (10, 3, 48, 48) and seen[0][1] >= -1 and seen[0][2] <= 1
