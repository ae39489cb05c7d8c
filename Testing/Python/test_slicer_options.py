"""Precision/device rules, the model list and the engine command lines the module builds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "CTDenoise"))

from CTDenoiseSlicerLib import engine_command as ec  # noqa: E402
from CTDenoiseSlicerLib import model_catalog  # noqa: E402
from CTDenoiseSlicerLib.device_options import (  # noqa: E402
    Device,
    Precision,
    device_options,
    first_enabled,
    precision_options,
    predict_path,
    reconcile,
    resolve_device,
)
from CTDenoiseSlicerLib.model_catalog import BUILTIN_MODELS, default_model, find, parse_models_json  # noqa: E402


def _enabled(device: Device, cuda: bool, model=None) -> set[str]:
    return {o.value.value for o in precision_options(device, cuda, model) if o.enabled}


def test_precision_rules_match_the_engine() -> None:
    assert _enabled(Device.AUTO, cuda=True) == {"auto", "fp32", "fp16", "int8"}
    assert _enabled(Device.AUTO, cuda=False) == {"auto", "fp32", "int8"}
    assert _enabled(Device.CPU, cuda=True) == {"auto", "fp32", "int8"}
    assert _enabled(Device.GPU, cuda=True) == {"auto", "fp32", "fp16"}
    assert _enabled(Device.AUTO, cuda=True, model=("fp32",)) == {"auto", "fp32"}
    no_openvino = precision_options(Device.CPU, False, None, openvino=False)
    assert {o.value.value for o in no_openvino if o.enabled} == {"auto", "fp32"}
    assert "OpenVINO" in next(o.reason for o in no_openvino if o.value is Precision.INT8)
    assert list(Precision)[0] is Precision.AUTO and Precision.AUTO.label().startswith("Auto")


def test_auto_is_the_default_and_predicts_the_engines_fastest_path() -> None:
    assert ec.DenoiseOptions().precision == "auto"
    cpu = predict_path(Precision.AUTO, Device.AUTO, cuda_available=False, openvino=True)
    assert (cpu.precision, cpu.device, cpu.engine) == ("int8", "cpu", "openvino")
    assert cpu.describe() == "INT8 on the CPU (OpenVINO)"
    assert predict_path(Precision.AUTO, Device.AUTO, False, True, int8_fast_cpu=False).precision == "fp32"
    assert predict_path(Precision.AUTO, Device.AUTO, False, openvino=False).engine == "torch"
    gpu = predict_path(Precision.AUTO, Device.AUTO, cuda_available=True, openvino=True)
    assert (gpu.precision, gpu.device, gpu.engine) == ("fp16", "cuda", "torch")
    assert predict_path(Precision.AUTO, Device.CPU, True, True).precision == "int8"
    assert predict_path(Precision.AUTO, Device.AUTO, False, True, model_precisions=("fp32",)).precision == "fp32"
    explicit = predict_path(Precision.FP32, Device.CPU, False, openvino=True)
    assert (explicit.precision, explicit.engine) == ("fp32", "openvino")


def test_a_saved_choice_is_kept_until_the_environment_is_known() -> None:
    unknown = reconcile(Device.GPU, Precision.FP16, environment_known=False, cuda_available=False, openvino=False)
    assert (unknown.device, unknown.precision) == (Device.GPU, Precision.FP16)
    assert all(o.enabled for o in unknown.device_options)
    assert {o.value for o in unknown.precision_options if not o.enabled} == {Precision.INT8}  # on a GPU: a rule
    known = reconcile(Device.GPU, Precision.FP16, environment_known=True, cuda_available=False, openvino=True)
    assert (known.device, known.precision) == (Device.AUTO, Precision.AUTO)
    kept = reconcile(Device.CPU, Precision.INT8, environment_known=True, cuda_available=False, openvino=True)
    assert (kept.device, kept.precision) == (Device.CPU, Precision.INT8)


def test_every_disabled_choice_says_why() -> None:
    for device in Device:
        for cuda in (True, False):
            for option in precision_options(device, cuda) + device_options(cuda):
                assert option.enabled == (option.reason == "")
    gpu = device_options(False)[2]
    assert gpu.value is Device.GPU and not gpu.enabled and "CUDA" in gpu.reason
    fp16_cpu = precision_options(Device.CPU, True)[2]
    assert "only on a CUDA GPU" in fp16_cpu.reason


def test_agrees_with_the_engine_rules_when_the_engine_is_importable() -> None:
    backends = pytest.importorskip("CTDenoiseLib.runtime.backends", reason="engine or torch not importable here")
    from CTDenoiseLib.errors import CTDenoiseError
    for device in Device:
        for cuda in (True, False):
            if device is Device.GPU and not cuda:
                continue
            for option in precision_options(device, cuda):
                if option.value is Precision.AUTO:  # the engine's own choice; see the precision_auto test below
                    continue
                try:
                    choice = backends.resolve_choice(option.value.value, device.value, has_cuda=cuda)
                    accepted = True
                    assert choice.device == resolve_device(option.value, device, cuda)
                except CTDenoiseError:
                    accepted = False
                assert accepted == option.enabled, (device, cuda, option)


def test_slicer_vocabulary_is_the_engines() -> None:
    """The panel cannot import the engine (it runs as a separate process), so it names precision and device itself;
    the values must be the engine's, which its options accept and ``models --json`` prints."""
    from CTDenoiseLib import vocabulary
    from CTDenoiseSlicerLib.model_catalog import PRECISIONS

    assert [precision.value for precision in Precision] == list(vocabulary.choices(vocabulary.Precision))
    assert [device.value for device in Device] == list(vocabulary.choices(vocabulary.Device))
    assert PRECISIONS == vocabulary.choices(vocabulary.Precision, auto=False)


def test_auto_prediction_agrees_with_the_engines_rule_when_importable() -> None:
    auto = pytest.importorskip("CTDenoiseLib.runtime.precision_auto", reason="engine or torch not importable here")
    from CTDenoiseSlicerLib.probe_environment import INT8_FAST_FLAGS, TORCH_INT8_PROBES

    assert INT8_FAST_FLAGS == auto.INT8_FAST_FLAGS and TORCH_INT8_PROBES == auto.TORCH_INT8_PROBES
    for device in Device:
        for cuda in (True, False):
            for flags in ((), ("avx512_vnni",)):
                if device is Device.GPU and not cuda:
                    continue
                choice = auto.auto_choice(device.value, cuda, flags, "")
                path = predict_path(Precision.AUTO, device, cuda, openvino=True, int8_fast_cpu=bool(flags))
                assert (choice.precision, choice.device) == (path.precision, path.device), (device, cuda, flags)


def test_first_enabled_falls_back_only_when_needed() -> None:
    options = precision_options(Device.CPU, cuda_available=False)
    assert first_enabled(options, Precision.INT8) is Precision.INT8
    assert first_enabled(options, Precision.FP16) is Precision.AUTO


def test_denoise_command_is_the_documented_cli() -> None:
    options = ec.DenoiseOptions("srresnet", "int8", "cpu", 8.0)
    assert ec.denoise_command("py", "/t/in.nrrd", "/t/out.nrrd", options) == [
        "py", "-m", "CTDenoiseLib", "denoise", "/t/in.nrrd", "/t/out.nrrd", "--model", "srresnet",
        "--precision", "int8", "--device", "cpu", "--progress", "json", "--max-tile-mvox", "8"]
    assert "--max-tile-mvox" not in ec.denoise_command("py", "a", "b", ec.DenoiseOptions())
    assert "--self-ensemble" not in ec.denoise_command("py", "a", "b", ec.DenoiseOptions())
    assert ec.denoise_command("py", "a", "b", ec.DenoiseOptions(self_ensemble=True))[-1] == "--self-ensemble"
    default = ec.denoise_command("py", "a", "b", ec.DenoiseOptions())
    assert default[default.index("--precision") + 1] == "auto" and "--strength" not in default
    assert ec.denoise_command("py", "a", "b", ec.DenoiseOptions(strength=0.6))[-2:] == ["--strength", "0.60"]
    with pytest.raises(ValueError, match="between 0 and 1"):
        ec.denoise_command("py", "a", "b", ec.DenoiseOptions(strength=1.5))
    assert "--adapt" not in default
    assert ec.denoise_command("py", "a", "b", ec.DenoiseOptions(adapt=True))[-1] == "--adapt"


def test_children_get_utf8_streams_whatever_the_code_page() -> None:
    env = ec.child_environment({"PATH": "/bin", "PYTHONUTF8": "0"})
    assert env == {"PATH": "/bin", "PYTHONUTF8": "1", "PYTHONIOENCODING": "utf-8"}
    assert ec.child_environment()["PYTHONUTF8"] == "1"


def test_radiomics_command() -> None:
    assert ec.radiomics_command("py", "m.nrrd", ["low.nrrd", "den.nrrd"], "/o", reference="ref.nrrd", label=2) == [
        "py", "-m", "CTDenoiseLib", "radiomics", "--mask", "m.nrrd", "--label", "2", "--image", "low.nrrd",
        "--image", "den.nrrd", "--reference", "ref.nrrd", "--output-dir", "/o", "--progress", "json"]


def test_python_executable_is_pythonslicer_inside_slicer() -> None:
    assert ec.python_executable(in_slicer=False) == sys.executable
    assert (ec.python_executable(lambda name: f"/opt/Slicer/bin/{name}", in_slicer=True)
            == "/opt/Slicer/bin/PythonSlicer")
    assert ec.python_executable(lambda name: None, in_slicer=True).endswith("PythonSlicer")
    assert (Path(ec.engine_dir()) / "CTDenoiseLib" / "__main__.py").is_file()


def test_names() -> None:
    assert ec.output_volume_name("chest", "STResNet", "fp16") == "chest denoised STResNet FP16"
    assert ec.output_volume_name("chest", "STResNet", "auto") == "chest denoised STResNet"
    assert ec.output_volume_name("chest", "SRResNet", "int8", 0.5) == "chest denoised SRResNet INT8 strength 0.50"
    assert ec.safe_file_stem("CT: chest/1 (low)") == "CT_chest_1_low"
    assert ec.safe_file_stem("///") == "volume"


def test_models_json_is_parsed_with_the_default_first() -> None:
    text = json.dumps({"models": [
        {"name": "mine", "architecture": "srresnet", "precisions": ["fp32"], "sha256": "ab", "summary": "site model"},
        {"name": "srresnet", "architecture": "srresnet", "precisions": ["fp32", "fp16"]},
        {"name": "stresnet", "architecture": "stresnet", "precisions": ["fp32", "fp16", "int8"]},
        {"name": "stunet", "architecture": "stunet", "precisions": ["fp32", "fp16", "int8"]}]})
    models = parse_models_json(text)
    assert [m.name for m in models] == ["stunet", "srresnet", "mine", "stresnet"]  # an engine that names no default
    assert models[0].title == "STUNet" and find(models, "mine").precisions == ("fp32",)
    assert default_model(models) == "stunet" and models[0].default
    assert find(BUILTIN_MODELS, "stresnet") is not None
    with pytest.raises(ValueError):
        parse_models_json('{"weights": []}')


def test_the_engine_names_the_default_and_the_panel_follows_it() -> None:
    text = json.dumps({"default": "mine", "models": [
        {"name": "stresnet", "architecture": "stresnet", "precisions": ["fp32"]},
        {"name": "mine", "architecture": "stunet", "precisions": ["fp32"]},
        {"name": "srresnet", "architecture": "srresnet", "precisions": ["fp32"]}]})
    models = parse_models_json(text)
    assert [m.name for m in models] == ["mine", "srresnet", "stresnet"]
    assert default_model(models) == "mine" and [m.default for m in models] == [True, False, False]


def test_the_panel_s_default_model_is_the_engine_s() -> None:
    from CTDenoiseLib.vocabulary import BASELINE_MODEL, DEFAULT_MODEL, PAPER_MODEL

    assert ((model_catalog.DEFAULT_MODEL, model_catalog.BASELINE_MODEL, model_catalog.PAPER_MODEL)
            == (DEFAULT_MODEL, BASELINE_MODEL, PAPER_MODEL))
    assert ec.DenoiseOptions().model == DEFAULT_MODEL and default_model(BUILTIN_MODELS) == DEFAULT_MODEL
    assert model_catalog.TITLES[DEFAULT_MODEL] != DEFAULT_MODEL  # the default has a display name
