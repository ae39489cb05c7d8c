"""The logic's background installs, with the fakes of Qt and slicer.app (fake_slicer.py): they always report, and
use light-the-torch only with the PyTorch extension. Everything the logic does with MRML nodes is tested on the
real classes (test_slicer_core_*.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "CTDenoise"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from CTDenoiseSlicerLib import dependencies  # noqa: E402
from CTDenoiseSlicerLib.process_runner import RunState  # noqa: E402

import fake_slicer  # noqa: E402


@pytest.fixture
def fake(monkeypatch, tmp_path):
    yield fake_slicer.install(monkeypatch, tmp_path)
    fake_slicer.forget_slicer_side()


def test_install_runs_in_the_background_and_always_reports(fake, monkeypatch, tmp_path) -> None:
    marker = tmp_path / "steps.txt"
    step = [sys.executable, "-c", f"open({str(marker)!r}, 'a').write('step\\n')"]
    fail = [sys.executable, "-c", "import sys; print('ERROR: no matching distribution', file=sys.stderr); sys.exit(1)"]
    logic = fake.logic.CTDenoiseLogic(python=sys.executable)
    logic.environment = dependencies.Environment({"numpy": "2.0", "SimpleITK": "2.4"})
    reports = []
    for commands in ([step, step], [step, fail, step]):
        monkeypatch.setattr(dependencies, "install_commands", lambda plan, python, constraints, c=commands: c)
        sequence = logic.startInstall(dependencies.InstallPlan(False, ["scipy>=1.10"]),
                                      lambda result, restart: reports.append((result, restart)))
        sequence.wait(timeout=60)
        assert not os.path.exists(sequence.temp_dir)
    assert [r.state for r, _ in reports] == [RunState.SUCCEEDED, RunState.FAILED]
    assert "no matching distribution" in reports[1][0].error
    assert marker.read_text().count("step") == 3  # the step after the failure never ran


def test_installing_uses_light_the_torch_only_with_the_pytorch_extension(fake, monkeypatch) -> None:
    logic = fake.logic.CTDenoiseLogic(python=sys.executable)
    logic.environment = dependencies.Environment({"torch": None, "scipy": "1", "safetensors": "1", "openvino": "1"})
    monkeypatch.setitem(sys.modules, "PyTorchUtils", object())
    assert logic.installPlan().torch_via_light_the_torch
    monkeypatch.setitem(sys.modules, "PyTorchUtils", None)  # an import of it now fails
    assert logic.installPlan() == dependencies.InstallPlan(False, ["torch>=2.2"])
