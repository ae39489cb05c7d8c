"""The logic and the scene helpers with a fake of the Slicer calls they make (fake_slicer.py): results named
after what the engine chose, an input removed during a run, UTF-8 children, background installs that always
report, no leftover colour tables, radiomics nodes reused."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "CTDenoise"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from CTDenoiseSlicerLib import dependencies, engine_command  # noqa: E402
from CTDenoiseSlicerLib.engine_command import DenoiseOptions  # noqa: E402
from CTDenoiseSlicerLib.process_runner import RunState  # noqa: E402
from CTDenoiseSlicerLib.radiomics_table import FeatureRow, FeatureTable  # noqa: E402

import fake_slicer  # noqa: E402

FAKE_ENGINE = textwrap.dedent("""
    import json, os, sys
    output = sys.argv[1]
    def emit(**event):
        print(json.dumps(event), flush=True)
    emit(event="info", message="precision auto: INT8 on the CPU (this CPU has avx512_vnni)")
    emit(event="info", message="running stresnet INT8 on CPU via OpenVINO")
    emit(event="info", message="PYTHONUTF8=" + os.environ.get("PYTHONUTF8", ""))
    emit(event="noise", std_hu=72.6, method="MAD of the high-pass residual")
    emit(event="progress", done=1, total=1)
    open(output, "wb").write(b"NRRD0004\\n")
    emit(event="done", output=output, seconds=0.1)
""")


@pytest.fixture
def fake(monkeypatch, tmp_path):
    yield fake_slicer.install(monkeypatch, tmp_path)
    fake_slicer.forget_slicer_side()


@pytest.fixture
def engine(monkeypatch, tmp_path):
    script = tmp_path / "fake_engine.py"
    script.write_text(FAKE_ENGINE)
    monkeypatch.setattr(engine_command, "denoise_command",
                        lambda python, input_path, output_path, options: [sys.executable, str(script), output_path])


def _volume(fake, name="chest"):
    volume = fake.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    volume.image = fake_slicer.FakeImage()
    return volume


def _run(fake, volume, output=None, options=DenoiseOptions(), before_wait=None):
    logic = fake.logic.CTDenoiseLogic(python=sys.executable)
    finished, events = [], []
    runner = logic.startDenoise(volume, output, options, onFinished=lambda r, n: finished.append((r, n)),
                                onEvent=events.append)
    if before_wait:
        before_wait()
    runner.wait(timeout=60)
    return finished[0][0], finished[0][1], events, runner


def test_the_result_is_named_after_what_the_engine_chose_and_the_child_runs_in_utf8(fake, engine) -> None:
    volume = _volume(fake)
    result, node, events, runner = _run(fake, volume, options=DenoiseOptions(strength=0.5))
    assert result.state is RunState.SUCCEEDED, result.error
    assert node.GetName() == "chest denoised STResNet INT8 strength 0.50"
    assert node.GetScene() is fake.scene and not os.path.exists(runner.temp_dir)
    assert any(e.kind == "noise" and e.data["std_hu"] == 72.6 for e in events)
    assert "PYTHONUTF8=1" in result.log


def test_an_existing_output_is_renamed_to_say_what_it_now_holds(fake, engine) -> None:
    volume, output = _volume(fake), _volume(fake, "my result")
    result, node, _, _ = _run(fake, volume, output)
    assert result.state is RunState.SUCCEEDED and node is output
    assert output.GetName() == "chest denoised STResNet INT8"


def test_an_input_removed_during_the_run_adds_nothing_to_the_scene(fake, engine) -> None:
    volume = _volume(fake)
    volumes_before = len(fake.scene.by_class("vtkMRMLScalarVolumeNode"))
    result, node, _, runner = _run(fake, volume, before_wait=lambda: fake.scene.RemoveNode(volume))
    assert result.state is RunState.FAILED and "removed" in result.error and node is None
    assert len(fake.scene.by_class("vtkMRMLScalarVolumeNode")) == volumes_before - 1
    assert not os.path.exists(runner.temp_dir)


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


def test_exporting_a_segment_leaves_no_label_map_and_no_colour_table(fake, tmp_path) -> None:
    def export(segmentation, ids, labelmap, reference):
        labelmap.image = fake_slicer.FakeImage()
        labelmap.CreateDefaultDisplayNodes()
        labelmap.display.color = fake.scene.AddNewNodeByClass("vtkMRMLColorTableNode", "nodule_ColorTable")
        return True

    fake.segmentations.answers["ExportSegmentsToLabelmapNode"] = export
    segmentation, volume = fake.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "nodule"), _volume(fake)
    before = set(fake.scene.nodes)
    for _ in range(2):
        fake.slicer_nodes.export_segment(segmentation, "1", volume, str(tmp_path / "mask.nrrd"))
    assert set(fake.scene.nodes) == before
    assert fake.scene.default_color in fake.scene.nodes


def test_radiomics_nodes_are_reused_and_the_layout_switched_once(fake) -> None:
    logic = fake.logic.CTDenoiseLogic(python=sys.executable)
    row = FeatureRow("original_firstorder_Mean", (1.0, 2.0, 3.0), (10.0, 5.0), ())
    with_reference = FeatureTable(("lowdose", "denoised", "reference"), "reference", ("lowdose", "denoised"), 10.0,
                                  (row,))
    without = FeatureTable(("lowdose", "denoised"), "lowdose", ("denoised",), 10.0, (row,))
    for table in (with_reference, with_reference, without):
        logic.showRadiomicsTable(table)
    assert len(fake.scene.by_class("vtkMRMLTableNode")) == 1
    charts = fake.scene.by_class("vtkMRMLPlotChartNode")
    assert len(charts) == 1 and len(fake.scene.by_class("vtkMRMLPlotSeriesNode")) == 1
    assert len(charts[0].series_ids) == 1
    assert fake.plots.count("ShowChartInLayout") == 1
