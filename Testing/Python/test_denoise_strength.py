"""Denoise strength blends input and network output, is refused outside 0..1, and is recorded with the input's
estimated noise level in the output's header and the JSON progress."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from CTDenoiseLib.errors import CTDenoiseError
from CTDenoiseLib.inference.pipeline import blend, prepare_engine
from CTDenoiseLib.io.volumes import read_volume
from CTDenoiseLib.models.files import load_model
from CTDenoiseLib.vocabulary import DEFAULT_MODEL

ENGINE = [sys.executable, "-m", "CTDenoiseLib"]


def _denoise(source: Path, output: Path, *extra: str) -> list[dict]:
    result = subprocess.run([*ENGINE, "denoise", str(source), str(output), "--progress", "json", "--precision", "fp32",
                             "--max-tile-mvox", "0.2", *extra], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_blend_is_the_input_at_zero_the_output_at_one_and_linear_between() -> None:
    original = np.zeros((2, 3, 3), np.float32)
    denoised = np.full((2, 3, 3), 10.0, np.float32)
    np.testing.assert_array_equal(blend(original, denoised, 0.0), original)
    np.testing.assert_array_equal(blend(original, denoised, 1.0), denoised)
    np.testing.assert_allclose(blend(original, denoised, 0.3), 3.0)
    upscaled = np.full((4, 3, 3), 10.0, np.float32)  # a z-upscaling network: input slices repeated
    assert blend(original, upscaled, 0.5).shape == (4, 3, 3)


def test_a_strength_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(CTDenoiseError, match="Strength"):
        prepare_engine("stresnet", "fp32", "cpu", strength=1.5)


def test_half_strength_lies_halfway_and_the_header_says_how_it_was_made(lidc_crop: Path, tmp_path: Path) -> None:
    full, half = tmp_path / "full.nrrd", tmp_path / "half.nrrd"
    events = _denoise(lidc_crop, full)
    _denoise(lidc_crop, half, "--strength", "0.5")
    source = read_volume(lidc_crop).array.astype(np.float32)
    full_hu, half_hu = read_volume(full).array.astype(np.float32), read_volume(half).array.astype(np.float32)
    body = source > -900
    assert np.abs(full_hu - source)[body].mean() > 5  # the network did something
    np.testing.assert_allclose(half_hu[body], ((source + full_hu) / 2)[body], atol=1.0)  # int16 rounding
    header = sitk.ReadImage(str(half))
    assert header.GetMetaData("ctdenoise_strength") == "0.5"
    assert header.GetMetaData("ctdenoise_model") == DEFAULT_MODEL
    assert header.GetMetaData("ctdenoise_precision") == "fp32"
    noise = [event for event in events if event["event"] == "noise"]
    assert len(noise) == 1 and 5 < noise[0]["std_hu"] < 200 and noise[0]["method"]
    told = float(header.GetMetaData("ctdenoise_noise_level_gain"))
    assert told == pytest.approx(load_model("stresnet").noise_level_gain.for_grain(noise[0]["grain"]), abs=0.01)
    assert float(sitk.ReadImage(str(full)).GetMetaData("ctdenoise_input_noise_std_hu")) == pytest.approx(
        noise[0]["std_hu"], abs=0.1)


def test_every_array_caller_gets_the_engines_strength() -> None:
    """The battery, demo, radiomics study and detectability denoise arrays through ``Engine.denoise``, so a
    strength set on the engine reaches them exactly as it reaches files."""
    rng = np.random.default_rng(0)
    hu = (40 + 30 * rng.standard_normal((6, 40, 40))).astype(np.float32)
    full = prepare_engine("stresnet", "fp32", "cpu").denoise(hu)
    half = prepare_engine("stresnet", "fp32", "cpu", strength=0.5).denoise(hu)
    off = prepare_engine("stresnet", "fp32", "cpu", strength=0.0).denoise(hu)
    assert np.abs(full - hu).mean() > 5
    np.testing.assert_allclose(half, (hu + full) / 2, atol=1e-3)
    np.testing.assert_allclose(off, hu, atol=1e-4)
