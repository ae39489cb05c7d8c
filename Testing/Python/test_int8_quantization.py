"""INT8: `ctdenoise quantize` makes a checksummed artefact from FP32 weights; tampered or stale artefacts are
refused; the shipped STResNet INT8 agrees with FP32 on real CT at simulated 10 % dose."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from CTDenoiseLib.errors import CTDenoiseError

from tiny_models import real_ct, register_tiny_models, write_crop

openvino = pytest.importorskip("openvino", reason="OpenVINO not installed (a base dependency: pip install openvino)")


@pytest.fixture(scope="module")
def quantized_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("nncf", reason='NNCF not installed (pip install "ctdenoise[quantize]")')
    from CTDenoiseLib.cli import main

    tmp_path = tmp_path_factory.mktemp("int8")
    models = register_tiny_models(tmp_path / "models", names=("stresnet",))
    calibration = write_crop(real_ct("totalsegmentator/chest_crop_1p5mm.nii.gz"), tmp_path / "calibration.nrrd",
                             slice(40, 56), slice(0, 96), slice(0, 96))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CTDENOISE_MODEL_DIRS", str(models))
        assert main(["quantize", "--model", "stresnet", "--calibration", str(calibration), "--patches", "4",
                     "--patch", "8", "32", "32", "--progress", "none"]) == 0
    return models


@pytest.fixture
def quantized_tiny(quantized_once: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the quantized tiny model folder (tests may damage it)."""
    models = Path(shutil.copytree(quantized_once, tmp_path / "models"))
    monkeypatch.setenv("CTDENOISE_MODEL_DIRS", str(models))
    return models


def test_quantize_registers_checksummed_artefacts(quantized_tiny: Path) -> None:
    from CTDenoiseLib.models.registry import find_model, sha256_of

    entry = find_model("stresnet")
    assert set(entry.extra) == {"int8", "int8-bin", "int8-info"}
    for artefact in entry.extra.values():
        assert artefact.path.parent == quantized_tiny and sha256_of(artefact.path) == artefact.sha256
    info = json.loads(entry.extra["int8-info"].path.read_text())
    assert info["weights_sha256"] == entry.weights.sha256
    assert info["calibration"]["patches_used"] == 4 and info["calibration"]["dose"] == 0.1


def test_tampered_int8_artefact_is_not_loaded(quantized_tiny: Path) -> None:
    from CTDenoiseLib.models.files import load_model
    from CTDenoiseLib.runtime.backends import Choice, make_runner

    loaded = load_model("stresnet")
    make_runner(loaded, Choice("int8", "cpu"))  # loads while intact
    binary = quantized_tiny / "stresnet.int8.bin"
    data = bytearray(binary.read_bytes())
    data[100] ^= 0xFF
    binary.write_bytes(bytes(data))
    with pytest.raises(CTDenoiseError, match="Checksum mismatch"):
        make_runner(load_model("stresnet"), Choice("int8", "cpu"))


def test_int8_made_from_other_weights_is_refused(quantized_tiny: Path) -> None:
    from CTDenoiseLib.models.files import load_model
    from CTDenoiseLib.models.registry import find_model, register_model
    from CTDenoiseLib.runtime.backends import Choice, make_runner

    entry = find_model("stresnet")
    info_path = entry.extra["int8-info"].path
    info = json.loads(info_path.read_text())
    info_path.write_text(json.dumps({**info, "weights_sha256": "0" * 64}))
    register_model(quantized_tiny, "stresnet", entry.weights.path, entry.card.path,
                   extra={key: artefact.path for key, artefact in entry.extra.items()})
    with pytest.raises(CTDenoiseError, match="other weights"):
        make_runner(load_model("stresnet"), Choice("int8", "cpu"))


def test_shipped_stresnet_int8_agrees_with_fp32_on_real_ct(monkeypatch: pytest.MonkeyPatch) -> None:
    """LIDC-IDRI-0003 (neither training, calibration nor validation data): 8 whole slices get 10 % dose noise
    (projection-domain, so whole slices), then a central 160x160 crop is denoised to keep the test fast."""
    from CTDenoiseLib.evaluation.metrics import psnr
    from CTDenoiseLib.inference.tiled import denoise_hu
    from CTDenoiseLib.io.volumes import read_volume
    from CTDenoiseLib.models.files import load_model
    from CTDenoiseLib.runtime.backends import Choice, make_runner
    from CTDenoiseLib.simulation.low_dose import DoseSimulation, simulate_volume

    monkeypatch.delenv("CTDENOISE_MODEL_DIRS", raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")  # only the shipped registry
    volume = read_volume(real_ct("lidc/LIDC-IDRI-0003/image.nrrd"))
    slices = replace(volume, array=np.ascontiguousarray(volume.array[:8]))
    low = np.ascontiguousarray(simulate_volume(slices, DoseSimulation(dose=0.1, seed=3)).array[:, 176:336, 176:336])
    reference = slices.array[:, 176:336, 176:336].astype(np.float32)
    from CTDenoiseLib.models.registry import SHIPPED_DIR

    if not (SHIPPED_DIR / "registry.json").is_file():
        pytest.skip(f"no shipped models in {SHIPPED_DIR}")
    loaded = load_model("stresnet")
    assert "int8" in loaded.entry.extra, "the shipped stresnet must have its INT8 artefact"
    fp32 = denoise_hu(low, make_runner(loaded, Choice("fp32", "cpu"), "torch"), loaded.normalization, loaded.halo)
    int8 = denoise_hu(low, make_runner(loaded, Choice("int8", "cpu")), loaded.normalization, loaded.halo)
    psnr_fp32, psnr_int8 = psnr(reference, fp32), psnr(reference, int8)
    assert psnr_fp32 > psnr(reference, low) + 1.0  # the trained model denoises
    assert abs(psnr_fp32 - psnr_int8) < 0.2, (psnr_fp32, psnr_int8)
    assert np.sqrt(np.mean((fp32 - int8) ** 2)) < 10.0  # HU
