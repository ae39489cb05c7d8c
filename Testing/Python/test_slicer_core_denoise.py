"""Denoising on Slicer's real MRML classes (slicer-core; slicer_core_harness.py): an oblique volume under a parent
transform through the real engine and back, the nodes a run adds (the result and its display node, nothing else),
cancel and failure leaving nothing behind, results named after what the engine ran, an input removed during a run.
Skipped, with the reason, where slicer-core is not installed."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "CTDenoise"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from CTDenoiseSlicerLib.engine_command import DenoiseOptions  # noqa: E402
from CTDenoiseSlicerLib.process_runner import RunState  # noqa: E402

from slicer_core_harness import (  # noqa: E402
    add_linear_transform,
    add_volume,
    added_nodes,
    ijk_to_ras,
    node_counts,
    use_stub_engine,
)

ROTATION = np.array([[np.cos(0.4), -np.sin(0.4), 0.0], [np.sin(0.4), np.cos(0.4), 0.0], [0.0, 0.0, 1.0]])
ONE_RESULT = {"vtkMRMLScalarVolumeNode": 1, "vtkMRMLScalarVolumeDisplayNode": 1}


def _chest(seed: int = 0, shape=(6, 20, 24)) -> np.ndarray:
    """int16 HU with structure in every direction, so that a flipped or transposed result cannot pass."""
    k, j, i = np.indices(shape)
    rng = np.random.default_rng(seed)
    return (-700 + 15 * i + 7 * j + 40 * k + rng.normal(0, 20, shape)).astype(np.int16)


def _oblique_chest():
    tilt = add_linear_transform(np.array([[1, 0, 0, 12.0], [0, 0.96, -0.28, -4.0], [0, 0.28, 0.96, 30.0],
                                          [0, 0, 0, 1]]), "patient position")
    return add_volume(_chest(), "oblique chest", ijk_to_ras((0.7, 0.8, 2.5), (-40.0, 25.0, 100.0), ROTATION),
                      tilt), tilt


def _run(core, volume, output=None, options=DenoiseOptions(), before_wait=None, timeout=60):
    logic = core.logic.CTDenoiseLogic(python=sys.executable)
    finished, events = [], []
    runner = logic.startDenoise(volume, output, options, onFinished=lambda r, n: finished.append((r, n)),
                                onEvent=events.append)
    if before_wait:
        before_wait(runner)
    runner.wait(timeout=timeout)
    return finished[0][0], finished[0][1], events, runner


def test_an_oblique_volume_under_a_transform_round_trips_through_the_real_engine(slicer_core) -> None:
    volume, tilt = _oblique_chest()
    slicer = slicer_core.slicer
    before = node_counts(slicer_core.scene)
    options = DenoiseOptions(model="stresnet", precision="fp32", device="cpu", strength=0.0)  # strength 0: input back
    result, output, _, runner = _run(slicer_core, volume, options=options, timeout=300)
    assert result.state is RunState.SUCCEEDED, result.error
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(output), slicer.util.arrayFromVolume(volume))
    np.testing.assert_allclose(slicer.util.arrayFromVTKMatrix(_ijk_to_ras(output)),
                               slicer.util.arrayFromVTKMatrix(_ijk_to_ras(volume)), atol=1e-6)
    assert output.GetParentTransformNode() is tilt
    assert output.GetDisplayNode().GetWindow() == 1500 and output.GetDisplayNode().GetLevel() == -500
    assert output.GetName() == "oblique chest denoised STResNet FP32 strength 0.00"
    assert added_nodes(before, node_counts(slicer_core.scene)) == ONE_RESULT
    assert not os.path.exists(runner.temp_dir)


def _ijk_to_ras(volume):
    import vtk

    matrix = vtk.vtkMatrix4x4()
    volume.GetIJKToRASMatrix(matrix)
    return matrix


def test_a_denoise_adds_the_result_and_its_display_node_and_nothing_else(slicer_core, monkeypatch, tmp_path) -> None:
    """The engine's file is read as a temporary volume; its display node and its storage node (which points at
    the deleted temporary file) must go with it."""
    use_stub_engine(monkeypatch, tmp_path)
    volume = add_volume(_chest())
    before = node_counts(slicer_core.scene)
    for _ in range(2):
        result, output, _, _ = _run(slicer_core, volume)
        assert result.state is RunState.SUCCEEDED, result.error
    assert added_nodes(before, node_counts(slicer_core.scene)) == {name: 2 for name in ONE_RESULT}
    assert not slicer_core.slicer.util.getNodesByClass("vtkMRMLStorageNode")


def test_the_result_is_named_after_what_the_engine_chose_and_the_child_runs_in_utf8(slicer_core, monkeypatch,
                                                                                    tmp_path) -> None:
    use_stub_engine(monkeypatch, tmp_path)
    volume = add_volume(_chest(), "chest")
    result, output, events, runner = _run(slicer_core, volume, options=DenoiseOptions(strength=0.5))
    assert result.state is RunState.SUCCEEDED, result.error
    assert output.GetName() == "chest denoised STUNet INT8 strength 0.50"  # the default, as the engine ran it
    assert output.GetScene() is slicer_core.scene and not os.path.exists(runner.temp_dir)
    assert any(e.kind == "noise" and e.data["std_hu"] == 72.6 for e in events)
    assert "PYTHONUTF8=1" in result.log


def test_an_existing_output_is_overwritten_renamed_and_moved_under_the_inputs_transform(slicer_core, monkeypatch,
                                                                                        tmp_path) -> None:
    use_stub_engine(monkeypatch, tmp_path)
    volume, tilt = _oblique_chest()
    slicer = slicer_core.slicer
    previous = add_volume(np.zeros((2, 3, 4), np.int16), "my result", window_level=(80, 40))
    before = node_counts(slicer_core.scene)
    result, output, _, _ = _run(slicer_core, volume, previous)
    assert result.state is RunState.SUCCEEDED and output is previous
    assert output.GetName() == "oblique chest denoised STUNet INT8"
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(output), slicer.util.arrayFromVolume(volume))
    assert output.GetParentTransformNode() is tilt and output.GetDisplayNode().GetWindow() == 1500
    assert added_nodes(before, node_counts(slicer_core.scene)) == {}


def test_an_input_removed_during_the_run_adds_nothing_to_the_scene(slicer_core, monkeypatch, tmp_path) -> None:
    use_stub_engine(monkeypatch, tmp_path)
    volume = add_volume(_chest())
    before = node_counts(slicer_core.scene)
    result, output, _, runner = _run(slicer_core, volume, before_wait=lambda _: slicer_core.scene.RemoveNode(volume))
    assert result.state is RunState.FAILED and "removed" in result.error and output is None
    assert added_nodes(before, node_counts(slicer_core.scene)) == {"vtkMRMLScalarVolumeNode": -1}
    assert not os.path.exists(runner.temp_dir)


@pytest.mark.skipif(os.name == "nt", reason="checks process liveness through /proc")
def test_cancel_stops_the_real_engine_and_leaves_no_node_and_no_file(slicer_core) -> None:
    volume = add_volume(_chest())
    before = node_counts(slicer_core.scene)

    def cancel_soon(runner) -> None:
        time.sleep(0.3)  # the engine is importing torch by now
        assert runner.is_alive(), "the engine ended before it could be cancelled"
        runner.cancel()

    result, output, _, runner = _run(slicer_core, volume, options=DenoiseOptions(model="srresnet"),
                                     before_wait=cancel_soon)
    assert result.state is RunState.CANCELLED and output is None
    assert added_nodes(before, node_counts(slicer_core.scene)) == {}
    assert not os.path.exists(runner.temp_dir) and not os.listdir(slicer_core.slicer.app.temporaryPath)


def test_an_engine_failure_says_why_and_leaves_no_node_and_no_file(slicer_core) -> None:
    volume = add_volume(_chest())
    before = node_counts(slicer_core.scene)
    logic = slicer_core.logic.CTDenoiseLogic(python=sys.executable)
    with pytest.raises(RuntimeError, match="no-such-model"):
        logic.denoise(volume, options=DenoiseOptions(model="no-such-model"), timeout=120)
    assert added_nodes(before, node_counts(slicer_core.scene)) == {}
    assert not os.listdir(slicer_core.slicer.app.temporaryPath)
