"""`ctdenoise denoise` end to end through a real subprocess, and every bad input with its clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from CTDenoiseLib.io.volumes import read_volume

ENGINE = [sys.executable, "-m", "CTDenoiseLib"]


def ctdenoise(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*ENGINE, *args], capture_output=True, text=True, timeout=600)


def files_in(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


def test_denoise_writes_int16_hu_with_the_input_geometry_and_json_progress(lidc_crop: Path, tmp_path: Path) -> None:
    before = lidc_crop.read_bytes()
    output = tmp_path / "out" / "denoised.nii.gz"
    output.parent.mkdir()
    result = ctdenoise("denoise", str(lidc_crop), str(output), "--progress", "json", "--max-tile-mvox", "0.1")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    progress = [event for event in events if event["event"] == "progress"]
    assert progress[0]["done"] == 0 and progress[-1]["done"] == progress[-1]["total"] > 1
    assert [event["done"] for event in progress[1:]] == list(range(1, progress[-1]["total"] + 1))
    assert events[-1]["event"] == "done" and events[-1]["output"] == str(output) and events[-1]["seconds"] > 0
    infos = [event["message"] for event in events if event["event"] == "info"]
    assert sum(message.startswith("precision auto: ") for message in infos) == 1, infos  # the default names its choice
    source, denoised = read_volume(lidc_crop), read_volume(output)
    assert denoised.array.dtype == np.int16 and denoised.array.shape == source.array.shape
    np.testing.assert_allclose(denoised.spacing, source.spacing, rtol=1e-5)
    np.testing.assert_allclose(denoised.origin, source.origin, atol=1e-3)
    np.testing.assert_allclose(denoised.direction, source.direction, atol=1e-6)
    assert not np.array_equal(denoised.array, source.array)
    assert np.abs(denoised.array.astype(float) - source.array).mean() < 30  # denoising, not replacing
    assert lidc_crop.read_bytes() == before
    assert files_in(output.parent) == {"denoised.nii.gz"}


def write_image(path: Path, array: np.ndarray, vector: bool = False) -> Path:
    image = sitk.GetImageFromArray(array, isVector=vector)
    sitk.WriteImage(image, str(path))
    return path


def hu_like(shape=(6, 24, 24)) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.normal(0, 300, shape) - 400).astype(np.float32)


def bad_inputs(tmp: Path) -> dict[str, tuple[Path, str]]:
    nan = hu_like()
    nan[2, 3, 4] = np.nan
    return {
        "missing": (tmp / "absent.nrrd", "Input not found"),
        "2d": (write_image(tmp / "slice.nrrd", hu_like((24, 24))), "2D image"),
        "rgb": (write_image(tmp / "rgb.nrrd", np.zeros((6, 24, 24, 3), np.uint8), vector=True), "3 components"),
        "nan": (write_image(tmp / "nan.nrrd", nan), "NaN"),
        "not_hu": (write_image(tmp / "mr.nrrd", np.random.default_rng(1).uniform(0, 1, (6, 24, 24)).astype(np.float32)),
                   "nearly constant|not look like CT"),
        "raw_values": (write_image(tmp / "raw.nrrd", (hu_like() + 1024).clip(0)), "not look like CT"),
    }


@pytest.mark.parametrize("case", ["missing", "2d", "rgb", "nan", "not_hu", "raw_values"])
def test_bad_input_fails_with_one_clear_line_and_leaves_nothing(case: str, tmp_path: Path) -> None:
    source, expected = bad_inputs(tmp_path)[case]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = ctdenoise("denoise", str(source), str(out_dir / "result.nrrd"), "--progress", "json")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ctdenoise: error: "), result.stderr
    assert __import__("re").search(expected, lines[0]), lines[0]
    assert json.loads(result.stdout.strip().splitlines()[-1])["event"] == "error"
    assert files_in(out_dir) == set()


def test_unwritable_output_fails_before_any_work(lidc_crop: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user that can write to read-only folders (root)")
        result = ctdenoise("denoise", str(lidc_crop), str(locked / "out.nrrd"))
        assert result.returncode == 1 and "not writable" in result.stderr
        assert files_in(locked) == set()
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("output, expected", [("missing-folder/out.nrrd", "does not exist"),
                                              ("out.png", "Unsupported output type")])
def test_bad_output_path_is_refused(lidc_crop: Path, tmp_path: Path, output: str, expected: str) -> None:
    result = ctdenoise("denoise", str(lidc_crop), str(tmp_path / output))
    assert result.returncode == 1 and expected in result.stderr


def test_output_may_not_be_the_input(lidc_crop: Path) -> None:
    before = lidc_crop.read_bytes()
    result = ctdenoise("denoise", str(lidc_crop), str(lidc_crop))
    assert result.returncode == 1 and "is the input file" in result.stderr
    assert lidc_crop.read_bytes() == before


@pytest.mark.parametrize("precision, device, expected", [("fp16", "cpu", "FP16 runs only on a CUDA GPU"),
                                                         ("int8", "cuda", "INT8 runs only on the CPU")])
def test_invalid_precision_device_combinations_fail_clearly(lidc_crop, tmp_path, precision, device, expected) -> None:
    result = ctdenoise("denoise", str(lidc_crop), str(tmp_path / "o.nrrd"), "--precision", precision,
                       "--device", device)
    assert result.returncode == 1 and expected in result.stderr
