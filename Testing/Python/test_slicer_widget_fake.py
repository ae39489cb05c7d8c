"""The panel's behaviour with a fake of the Slicer calls it makes (fake_slicer.py): jobs in separate slots, scene
close, start failures, saved choices kept until the environment is known, results side by side, Reload."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "CTDenoise"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from CTDenoiseSlicerLib.dependencies import Environment, InstallPlan  # noqa: E402
from CTDenoiseSlicerLib.device_options import Device, Precision  # noqa: E402
from CTDenoiseSlicerLib.process_runner import RunResult, RunState  # noqa: E402

import fake_slicer  # noqa: E402

ALL_INSTALLED = {name: "1.0" for name in ("torch", "numpy", "SimpleITK", "scipy", "safetensors", "openvino",
                                         "pyradiomics-bhklab", "matplotlib", "scikit-image")}


@pytest.fixture
def fake(monkeypatch, tmp_path):
    yield fake_slicer.install(monkeypatch, tmp_path)
    fake_slicer.forget_slicer_side()


class Widget:
    """A stand-in for any Qt widget of the panel: plain attributes, combo items that can be disabled."""

    def __init__(self) -> None:
        self.text, self.enabled, self.visible, self.value, self.toolTip = "", True, False, 0, ""
        self.items: dict[int, types.SimpleNamespace] = {}

    def model(self):
        return types.SimpleNamespace(item=lambda i: self.items.setdefault(i, types.SimpleNamespace(
            enabled=True, setEnabled=lambda on, i=i: setattr(self.items[i], "enabled", on))))

    def setItemData(self, index, value, role): pass
    def findData(self, value): return 0
    def setMRMLTableNode(self, node): pass


class UI:
    def __getattr__(self, name):
        widget = Widget()
        setattr(self, name, widget)
        return widget


class FakeRunner:
    def __init__(self, state=RunState.RUNNING) -> None:
        self.state, self.cancelled = state, 0

    def cancel(self) -> None:
        self.cancelled += 1


def _success(log="ok") -> RunResult:
    return RunResult(RunState.SUCCEEDED, 0, "", log, 3.0, "out.nrrd")


def _widget(fake, environment=None, logic=None):
    widget = fake.widget.CTDenoiseWidget()
    widget.ui = UI()
    widget.logic = logic or types.SimpleNamespace(environment=environment, models=[])
    widget._parameterNode = fake.parameter_node.CTDenoiseParameterNode()
    return widget


def test_scene_close_cancels_denoise_and_radiomics_and_a_late_result_touches_nothing(fake) -> None:
    widget = _widget(fake)
    denoise, radiomics, install = FakeRunner(), FakeRunner(), FakeRunner()
    widget._runner, widget._radiomicsRunner, widget._installRunner = denoise, radiomics, install
    widget.onSceneStartClose(None, None)
    assert (denoise.cancelled, radiomics.cancelled, install.cancelled) == (1, 1, 0)
    assert widget._parameterNode is None
    node = fake.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "late")
    widget._onDenoised(_success(), node)  # a success already queued when the scene closed
    widget._onRadiomics(_success(), types.SimpleNamespace(rows=[], reference="lowdose", threshold_percent=10))
    assert "Done" in widget.ui.statusLabel.text


def test_after_a_run_the_output_stays_create_new_so_the_next_model_lands_beside_it(fake) -> None:
    widget = _widget(fake)
    volume = fake.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "chest")
    widget._parameterNode.inputVolume = volume
    result = fake.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "chest denoised STResNet INT8")
    widget._runner = FakeRunner()
    widget._onDenoised(_success(), result)
    assert widget._parameterNode.outputVolume is None
    assert widget._parameterNode.radiomicsDenoised is result and widget._parameterNode.radiomicsInput is volume
    assert widget._runner is None and widget.ui.applyButton.text == "Denoise"


def test_install_has_its_own_slot_and_waits_for_a_running_denoise(fake) -> None:
    environment = Environment({**ALL_INSTALLED, "pyradiomics-bhklab": None})
    started = []
    logic = types.SimpleNamespace(environment=environment, models=[],
                                  installPlan=lambda radiomics: InstallPlan(False, ["pyradiomics-bhklab"]),
                                  startInstall=lambda plan, done: started.append(plan) or FakeRunner())
    widget = _widget(fake, logic=logic)
    widget._parameterNode.inputVolume = fake.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "chest")
    denoise = FakeRunner()
    widget._runner = denoise
    widget._updateButtons()
    assert not widget.ui.installDependenciesButton.enabled
    widget.installDependencies(radiomics=True)
    assert not started and widget._runner is denoise and "Wait" in widget.ui.statusLabel.text
    widget._runner = None
    fake.dialogs.confirm = True
    widget.installDependencies(radiomics=True)
    assert started and widget._installRunner is not None and widget._runner is None
    assert not widget.ui.applyButton.enabled  # no Denoise while packages are being installed
    install = widget._installRunner
    widget.onApplyButton()  # whatever the Denoise button does now, it never touches the install
    assert install.cancelled == 0


def test_an_install_that_fails_at_once_re_enables_the_button(fake) -> None:
    environment = Environment({**ALL_INSTALLED, "torch": None})

    def start_install(plan, done):
        done(RunResult(RunState.FAILED, None, "could not start step 1: boom", "", 0.0, None), False)
        return types.SimpleNamespace(state=RunState.FAILED)

    logic = types.SimpleNamespace(environment=environment, models=[], installPlan=lambda r: InstallPlan(True),
                                  startInstall=start_install, startEnvironmentProbe=lambda done: None)
    widget = _widget(fake, logic=logic)
    widget.installDependencies()
    assert widget._installRunner is None
    assert widget.ui.installDependenciesButton.enabled
    assert "boom" in widget.ui.statusLabel.text


@pytest.mark.parametrize("how", ["raises", "fails at once"])
def test_a_start_failure_stays_on_screen(fake, how: str) -> None:
    def start_denoise(volume, output, options, keep, on_progress, on_finished, on_event):
        if how == "raises":
            raise ValueError("Select a CT volume with image data.")
        on_finished(RunResult(RunState.FAILED, None, "could not start PythonSlicer: not found", "", 0.0, None), None)
        return types.SimpleNamespace(state=RunState.FAILED)

    widget = _widget(fake, logic=types.SimpleNamespace(environment=Environment(ALL_INSTALLED), models=[],
                                                       startDenoise=start_denoise))
    widget._parameterNode.inputVolume = fake.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "chest")
    widget.onApplyButton()
    expected = "Select a CT volume" if how == "raises" else "could not start PythonSlicer"
    assert expected in widget.ui.statusLabel.text
    assert not widget.ui.progressBar.visible and widget._runner is None
    assert widget.ui.applyButton.text == "Denoise"


def test_a_saved_gpu_choice_survives_opening_the_module_until_the_environment_is_known(fake) -> None:
    widget = _widget(fake)
    widget._parameterNode.device, widget._parameterNode.precision = Device.GPU, Precision.FP16
    widget._updateChoices()
    assert (widget._parameterNode.device, widget._parameterNode.precision) == (Device.GPU, Precision.FP16)
    widget.logic.environment = Environment(ALL_INSTALLED, cuda=False)
    widget._updateChoices()
    assert (widget._parameterNode.device, widget._parameterNode.precision) == (Device.AUTO, Precision.AUTO)


def test_the_panel_says_what_auto_will_run_and_how_long_before_the_click(fake) -> None:
    from CTDenoiseSlicerLib.expected_time import SpeedTable

    widget = _widget(fake, environment=Environment(ALL_INSTALLED, int8_cpu_flags=("avx512_vnni",)))
    widget._speeds = SpeedTable.load()
    volume = fake.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "chest")
    volume.image = fake_slicer.FakeImage((512, 512, 300))
    widget._parameterNode.inputVolume = volume
    widget._updateChoices()
    assert "INT8 on the CPU (OpenVINO)" in widget.ui.deviceInfoLabel.text
    text = widget.ui.expectedTimeLabel.text
    assert "about 27 s" in text and "with STUNet INT8" in text and "estimate" in text  # the default's measured row


def test_reload_forgets_the_helper_package_first(fake) -> None:
    widget = _widget(fake)
    before = fake.widget_base.reloads
    loaded = {name: module for name, module in sys.modules.items() if name.startswith("CTDenoiseSlicerLib")}
    try:
        widget.onReload()
        assert not any(name.startswith("CTDenoiseSlicerLib") for name in sys.modules)
        assert fake.widget_base.reloads == before + 1
    finally:
        sys.modules.update(loaded)  # later tests compare against these modules' classes
