"""Precision/device rules, the model list and the engine command lines the module builds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "CTDenoise"))

from CTDenoiseSlicerLib import engine_command as ec  # noqa: E402
from CTDenoiseSlicerLib.device_options import (Device, Precision, device_options, first_enabled,  # noqa: E402
                                               precision_options, resolve_device)
from CTDenoiseSlicerLib.model_catalog import BUILTIN_MODELS, find, parse_models_json  # noqa: E402


def _enabled(device: Device, cuda: bool, model=None) -> set[str]:
    return {o.value.value for o in precision_options(device, cuda, model) if o.enabled}


def test_precision_rules_match_the_engine() -> None:
    assert _enabled(Device.AUTO, cuda=True) == {"fp32", "fp16", "int8"}
    assert _enabled(Device.AUTO, cuda=False) == {"fp32", "int8"}
    assert _enabled(Device.CPU, cuda=True) == {"fp32", "int8"}
    assert _enabled(Device.GPU, cuda=True) == {"fp32", "fp16"}
    assert _enabled(Device.AUTO, cuda=True, model=("fp32",)) == {"fp32"}


def test_every_disabled_choice_says_why() -> None:
    for device in Device:
        for cuda in (True, False):
            for option in precision_options(device, cuda) + device_options(cuda):
                assert option.enabled == (option.reason == "")
    gpu = device_options(False)[2]
    assert gpu.value is Device.GPU and not gpu.enabled and "CUDA" in gpu.reason
    fp16_cpu = precision_options(Device.CPU, True)[1]
    assert "only on a CUDA GPU" in fp16_cpu.reason


def test_agrees_with_the_engine_rules_when_the_engine_is_importable() -> None:
    backends = pytest.importorskip("CTDenoiseLib.backends", reason="engine or torch not importable here")
    from CTDenoiseLib.errors import CTDenoiseError
    for device in Device:
        for cuda in (True, False):
            if device is Device.GPU and not cuda:
                continue
            for option in precision_options(device, cuda):
                try:
                    choice = backends.resolve_choice(option.value.value, device.value, has_cuda=cuda)
                    accepted = True
                    assert choice.device == resolve_device(option.value, device, cuda)
                except CTDenoiseError:
                    accepted = False
                assert accepted == option.enabled, (device, cuda, option)


def test_first_enabled_falls_back_only_when_needed() -> None:
    options = precision_options(Device.CPU, cuda_available=False)
    assert first_enabled(options, Precision.INT8) is Precision.INT8
    assert first_enabled(options, Precision.FP16) is Precision.FP32


def test_denoise_command_is_the_documented_cli() -> None:
    options = ec.DenoiseOptions("srresnet", "int8", "cpu", 8.0)
    assert ec.denoise_command("py", "/t/in.nrrd", "/t/out.nrrd", options) == [
        "py", "-m", "CTDenoiseLib", "denoise", "/t/in.nrrd", "/t/out.nrrd", "--model", "srresnet",
        "--precision", "int8", "--device", "cpu", "--progress", "json", "--max-tile-mvox", "8"]
    assert "--max-tile-mvox" not in ec.denoise_command("py", "a", "b", ec.DenoiseOptions())
    assert "--self-ensemble" not in ec.denoise_command("py", "a", "b", ec.DenoiseOptions())
    assert ec.denoise_command("py", "a", "b", ec.DenoiseOptions(self_ensemble=True))[-1] == "--self-ensemble"


def test_radiomics_command() -> None:
    assert ec.radiomics_command("py", "m.nrrd", ["low.nrrd", "den.nrrd"], "/o", reference="ref.nrrd", label=2) == [
        "py", "-m", "CTDenoiseLib", "radiomics", "--mask", "m.nrrd", "--label", "2", "--image", "low.nrrd",
        "--image", "den.nrrd", "--reference", "ref.nrrd", "--output-dir", "/o", "--progress", "json"]


def test_python_executable_is_pythonslicer_inside_slicer() -> None:
    assert ec.python_executable(in_slicer=False) == sys.executable
    assert ec.python_executable(lambda name: f"/opt/Slicer/bin/{name}", in_slicer=True) == "/opt/Slicer/bin/PythonSlicer"
    assert ec.python_executable(lambda name: None, in_slicer=True).endswith("PythonSlicer")
    assert (Path(ec.engine_dir()) / "CTDenoiseLib" / "__main__.py").is_file()


def test_names() -> None:
    assert ec.output_volume_name("chest", "STResNet", "fp16") == "chest denoised STResNet FP16"
    assert ec.safe_file_stem("CT: chest/1 (low)") == "CT_chest_1_low"
    assert ec.safe_file_stem("///") == "volume"


def test_models_json_is_parsed_with_the_default_first() -> None:
    text = json.dumps({"models": [
        {"name": "mine", "architecture": "srresnet", "precisions": ["fp32"], "sha256": "ab", "summary": "site model"},
        {"name": "srresnet", "architecture": "srresnet", "precisions": ["fp32", "fp16"]},
        {"name": "stresnet", "architecture": "stresnet", "precisions": ["fp32", "fp16", "int8"]}]})
    models = parse_models_json(text)
    assert [m.name for m in models] == ["stresnet", "srresnet", "mine"]
    assert models[0].title == "STResNet" and find(models, "mine").precisions == ("fp32",)
    assert find(BUILTIN_MODELS, "stresnet") is not None
    with pytest.raises(ValueError):
        parse_models_json('{"weights": []}')
