"""Precision/device/backend rules: invalid combinations fail with a clear message, auto says what it picked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from CTDenoiseLib.errors import CTDenoiseError
from CTDenoiseLib.runtime import backends


@pytest.mark.parametrize("precision, device, has_cuda, expected", [
    ("fp32", "auto", False, ("fp32", "cpu")), ("fp32", "auto", True, ("fp32", "cuda")),
    ("fp16", "auto", True, ("fp16", "cuda")), ("int8", "auto", True, ("int8", "cpu")),
    ("int8", "cpu", False, ("int8", "cpu")), ("fp32", "cpu", True, ("fp32", "cpu")),
])
def test_valid_combinations_resolve(precision: str, device: str, has_cuda: bool, expected: tuple[str, str]) -> None:
    choice = backends.resolve_choice(precision, device, has_cuda=has_cuda)
    assert (choice.precision, choice.device) == expected
    assert ("auto" in choice.note) == (device == "auto")


@pytest.mark.parametrize("precision, device, has_cuda, words", [
    ("int8", "cuda", True, "INT8 runs only on the CPU"), ("fp16", "cpu", True, "FP16 runs only on a CUDA GPU"),
    ("fp16", "auto", False, "needs a CUDA GPU"), ("fp32", "cuda", False, "no CUDA GPU"),
])
def test_invalid_combinations_fail_clearly(precision: str, device: str, has_cuda: bool, words: str) -> None:
    with pytest.raises(CTDenoiseError, match=words):
        backends.resolve_choice(precision, device, has_cuda=has_cuda)


def test_backend_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    from CTDenoiseLib.runtime import openvino_backend as openvino_runtime

    cpu32, cpu8, gpu16 = backends.Choice("fp32", "cpu"), backends.Choice("int8", "cpu"), backends.Choice("fp16", "cuda")
    monkeypatch.setattr(openvino_runtime, "openvino_available", lambda: False)
    assert backends.pick_backend(cpu32, "auto") == "torch"
    with pytest.raises(CTDenoiseError, match=r'pip install "openvino>=2026.0"'):
        backends.pick_backend(cpu8, "auto")
    with pytest.raises(CTDenoiseError, match=r'pip install "openvino>=2026.0"'):
        backends.pick_backend(cpu32, "openvino")
    monkeypatch.setattr(openvino_runtime, "openvino_available", lambda: True)
    assert backends.pick_backend(cpu32, "auto") == "openvino"
    assert backends.pick_backend(cpu32, "torch") == "torch"
    assert backends.pick_backend(cpu8, "auto") == "openvino"
    assert backends.pick_backend(gpu16, "auto") == "torch"
    with pytest.raises(CTDenoiseError, match="not PyTorch"):
        backends.pick_backend(cpu8, "torch")
    with pytest.raises(CTDenoiseError, match="CPU only"):
        backends.pick_backend(gpu16, "openvino")


def test_cli_rejects_int8_on_cuda_in_one_line(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    from CTDenoiseLib.cli import main

    assert main(["denoise", str(tmp_path / "in.nrrd"), str(tmp_path / "out.nrrd"), "--precision", "int8",
                 "--device", "cuda"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("ctdenoise: error: ")
    assert "INT8 runs only on the CPU" in error  # the rule, before whether this machine has CUDA


def working_network(features: int, blocks: int) -> torch.nn.Module:
    """A fresh STResNet with non-zero output weights. A fresh network starts as the exact identity (its output
    convolution is zero), so a runner that returned its input unchanged would match it."""
    from CTDenoiseLib.models import ModelConfig, build_model

    torch.manual_seed(0)
    module = build_model(ModelConfig("stresnet", features, blocks)).eval()
    with torch.no_grad():
        torch.nn.init.normal_(module.tail.weight, std=0.05)
        torch.nn.init.normal_(module.tail.bias, std=0.05)
    return module


def assert_not_identity(output: np.ndarray, tile: np.ndarray) -> None:
    assert np.abs(output - tile).max() > 0.05, "the network is (near) the identity: the comparison proves nothing"


def test_openvino_fp32_matches_pytorch() -> None:
    pytest.importorskip("openvino", reason="OpenVINO not installed (a base dependency: pip install openvino)")
    from CTDenoiseLib.runtime.openvino_backend import OpenVINORunner, convert_module

    module = working_network(4, 1)
    tile = np.random.default_rng(0).uniform(0, 2, (6, 20, 24)).astype(np.float32)
    reference = backends.TorchRunner(module, "cpu")(tile)
    assert_not_identity(reference, tile)
    runner = OpenVINORunner(convert_module(module), max_shapes=1)
    np.testing.assert_allclose(runner(tile), reference, atol=2e-4)
    np.testing.assert_allclose(runner(tile[:4]), backends.TorchRunner(module, "cpu")(tile[:4]), atol=2e-4)
    assert len(runner.compiled) == 1  # least recently used shape evicted


@pytest.mark.skipif(not torch.cuda.is_available(), reason="FP16 runs only on CUDA and this machine has no CUDA GPU")
def test_fp16_cuda_matches_fp32() -> None:
    from CTDenoiseLib.hu import HUNormalization
    from CTDenoiseLib.models import ModelConfig
    from CTDenoiseLib.models.files import LoadedModel

    config = ModelConfig("stresnet", 8, 2)
    module = working_network(config.features, config.blocks)
    tile = np.random.default_rng(0).uniform(0, 2, (8, 64, 64)).astype(np.float32)
    reference = backends.TorchRunner(module, "cpu")(tile)
    assert_not_identity(reference, tile)
    loaded = LoadedModel("tiny", module, config, HUNormalization(), 4, {})
    choice = backends.resolve_choice("fp16", "auto")
    assert (choice.precision, choice.device) == ("fp16", "cuda")
    half = backends.make_runner(loaded, choice)(tile)
    assert np.abs(half - reference).max() < 5e-3  # 5 HU after denormalisation


# --precision auto (the default): the fastest path of the machine, and one line naming it and why.
@pytest.mark.parametrize("device, has_cuda, flags, missing, expected, words", [
    ("auto", True, ("avx512_vnni",), "", ("fp16", "cuda"), "CUDA GPU is present"),
    ("cuda", True, (), "", ("fp16", "cuda"), "FP16 on CUDA"),
    ("auto", False, ("avx512_vnni",), "", ("int8", "cpu"), "has avx512_vnni"),
    ("cpu", True, ("amx_int8", "avx_vnni"), "", ("int8", "cpu"), "amx_int8"),
    ("auto", False, (), "", ("fp32", "cpu"), "27.1 s vs 26.3 s"),
    ("auto", False, ("avx_vnni",), "OpenVINO is not installed", ("fp32", "cpu"), "but OpenVINO is not installed"),
])
def test_auto_precision_picks_the_fast_path_and_says_why(device, has_cuda, flags, missing, expected, words) -> None:
    from CTDenoiseLib.runtime.precision_auto import auto_choice

    choice = auto_choice(device, has_cuda, flags, missing)
    assert (choice.precision, choice.device) == expected
    assert choice.note.startswith("precision auto: ") and words in choice.note


def test_auto_precision_on_cuda_without_a_gpu_is_refused_like_fp16() -> None:
    from CTDenoiseLib.runtime.precision_auto import auto_choice

    with pytest.raises(CTDenoiseError, match="no CUDA GPU"):
        auto_choice("cuda", False, (), "")


def test_cpu_int8_flags_are_read_from_cpuinfo(tmp_path) -> None:
    from CTDenoiseLib.runtime.precision_auto import cpu_int8_flags, torch_int8_flags

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni\n\nprocessor\t: 1\n", encoding="ascii")
    assert cpu_int8_flags(info) == ("avx512_vnni",)
    info.write_text("flags\t\t: fpu sse avx2 fma\n", encoding="ascii")
    assert cpu_int8_flags(info) == ()
    assert cpu_int8_flags(tmp_path / "absent") == torch_int8_flags()  # Windows, macOS: PyTorch's probes


def test_auto_precision_falls_back_to_fp32_for_a_model_without_int8_or_with_backend_torch(monkeypatch) -> None:
    from CTDenoiseLib.runtime import precision_auto

    monkeypatch.setattr(precision_auto, "cuda_available", lambda: False)
    monkeypatch.setattr(precision_auto, "cpu_int8_flags", lambda: ("avx512_vnni",))
    monkeypatch.setattr(precision_auto, "int8_unavailable_reason",
                        lambda model: f"model '{model}' has no INT8 artefact")
    choice = precision_auto.choose_precision("auto", "auto", "mine")
    assert choice.precision == "fp32" and "'mine' has no INT8 artefact" in choice.note
    monkeypatch.setattr(precision_auto, "int8_unavailable_reason", lambda model: "")
    assert precision_auto.choose_precision("auto", "auto", "stresnet").precision == "int8"
    assert precision_auto.choose_precision("auto", "cpu", "stresnet", backend="torch").precision == "fp32"
    assert precision_auto.choose_precision("fp32", "cpu", "stresnet").precision == "fp32"


def test_the_shipped_models_have_int8_and_it_needs_openvino(monkeypatch) -> None:
    from CTDenoiseLib.runtime import openvino_backend as openvino_runtime
    from CTDenoiseLib.runtime.precision_auto import int8_unavailable_reason

    if openvino_runtime.openvino_available():
        assert int8_unavailable_reason("stresnet") == ""
    monkeypatch.setattr(openvino_runtime, "openvino_available", lambda: False)
    assert int8_unavailable_reason("stresnet") == "OpenVINO is not installed"


def test_models_lists_only_the_precisions_that_can_run_here(monkeypatch, capsys) -> None:
    import json

    from CTDenoiseLib.cli import main
    from CTDenoiseLib.runtime import openvino_backend as openvino_runtime

    monkeypatch.setattr(backends, "cuda_available", lambda: False)
    monkeypatch.setattr(openvino_runtime, "openvino_available", lambda: False)
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["models"]
    assert rows and all(row["precisions"] == ["fp32"] for row in rows)
    assert rows[0]["unavailable"] == {"fp16": "needs a CUDA GPU", "int8": "OpenVINO is not installed"}
    with pytest.raises(CTDenoiseError) as refusal:
        backends.resolve_choice("fp16", "cpu", has_cuda=False)
    assert "int8" not in str(refusal.value)
