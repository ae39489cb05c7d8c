"""CTDenoiseWidget: the module panel. Every long step runs in a background process; the GUI only reacts.

Three jobs can run, each in its own slot so that one never replaces or cancels another: denoising
(``_runner``), the radiomics comparison (``_radiomicsRunner``) and the package installation
(``_installRunner``). Closing the scene cancels the first two; their callbacks then find no parameter node and
leave the new scene alone.
"""

from __future__ import annotations

import qt
import slicer
import vtk
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleWidget
from slicer.util import VTKObservationMixin

from . import dependencies
from .command_sequence import CommandSequence
from .device_options import Precision, predict_path, reconcile
from .engine_command import DenoiseOptions
from .expected_time import SpeedTable, expected_time_text
from .logic import CTDenoiseLogic
from .model_catalog import default_model, find
from .module_reload import forget_package
from .parameter_node import CTDenoiseParameterNode
from .process_runner import ProcessRunner, RunResult, RunState
from .progress import EngineEvent, ProgressSnapshot, RunStatus
from .radiomics_table import FeatureTable, write_csv


def _set_item_enabled(combo, index: int, enabled: bool, reason: str) -> None:
    item = combo.model().item(index)
    if item is not None:
        item.setEnabled(enabled)
    combo.setItemData(index, reason or None, qt.Qt.ToolTipRole)


def _running(runner: ProcessRunner | CommandSequence | None) -> bool:
    return runner is not None and runner.state is RunState.RUNNING


class CTDenoiseWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic: CTDenoiseLogic | None = None
        self._parameterNode: CTDenoiseParameterNode | None = None
        self._parameterNodeGuiTag = None
        self._runner: ProcessRunner | None = None
        self._radiomicsRunner: ProcessRunner | None = None
        self._installRunner: CommandSequence | None = None
        self._runStatus = RunStatus()
        self._speeds: SpeedTable | None = None
        self._lastLog = ""
        self._lastTable: FeatureTable | None = None
        self._askedToInstall = False
        self._updating = False

    # Set-up ---------------------------------------------------------------------------------------------

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CTDenoise.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = CTDenoiseLogic()
        self._speeds = SpeedTable.load()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.showLogButton.connect("clicked(bool)", self.onShowLog)
        self.ui.installDependenciesButton.connect("clicked(bool)", lambda: self.installDependencies(radiomics=True))
        self.ui.refreshEnvironmentButton.connect("clicked(bool)", self.checkEnvironment)
        self.ui.modelComboBox.connect("currentIndexChanged(int)", self.onModelChanged)
        self.ui.segmentSelector.connect("currentSegmentChanged(QString)", self.onSegmentChanged)
        self.ui.segmentSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onSegmentationChanged)
        self.ui.computeRadiomicsButton.connect("clicked(bool)", self.onComputeRadiomics)
        self.ui.exportCsvButton.connect("clicked(bool)", self.onExportCsv)
        self._fillModels(self.logic.models)
        self.initializeParameterNode()
        self.checkEnvironment()

    def cleanup(self) -> None:
        for runner in (self._runner, self._radiomicsRunner, self._installRunner):
            if runner:
                runner.cancel()
        self.removeObservers()

    def onReload(self) -> None:
        """Forget the helper package first: Slicer's Reload re-executes only the module file."""
        forget_package("CTDenoiseSlicerLib")
        ScriptedLoadableModuleWidget.onReload(self)

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def onSceneStartClose(self, caller, event) -> None:
        # a run finishing after the close would write into the new scene with the old input's geometry
        for runner in (self._runner, self._radiomicsRunner):
            if runner:
                runner.cancel()
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            first = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if first:
                self._parameterNode.inputVolume = first

    def setParameterNode(self, parameterNode: CTDenoiseParameterNode | None) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = parameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
            # the segment selector and the model list have no connector: restore them by hand
            if self._parameterNode.segmentation:
                self.ui.segmentSelector.setCurrentNode(self._parameterNode.segmentation)
                self.ui.segmentSelector.setCurrentSegmentID(self._parameterNode.segmentId)
            self.ui.modelComboBox.currentIndex = max(0, self.ui.modelComboBox.findData(self._parameterNode.model))
            self._onParameterNodeModified()

    # Environment, models and the precision/device rules --------------------------------------------------

    def checkEnvironment(self) -> None:
        self.ui.environmentLabel.text = "Checking the Python environment…"
        self.logic.startEnvironmentProbe(self._onEnvironment)

    def _onEnvironment(self, environment: dependencies.Environment | None, error: str) -> None:
        if environment is None:
            self.ui.environmentLabel.text = f"Could not check the Python environment: {error}"
            self._updateButtons()
            return
        missing = dependencies.missing(environment, radiomics=True)
        torch = environment.packages.get("torch")
        gpu = ", ".join(environment.gpus) if environment.cuda else "no CUDA GPU (CPU only)"
        text = f"PyTorch {torch}; {gpu}." if torch else "PyTorch is not installed."
        if environment.torch_import_error:
            text = f"PyTorch is installed but fails to load: {environment.torch_import_error}"
        text += " INT8 (OpenVINO) available." if environment.openvino else ""
        if missing:
            text += " Missing: " + ", ".join(missing) + "."
        self.ui.environmentLabel.text = text
        self._onParameterNodeModified()
        if torch and not environment.torch_import_error:
            self.logic.startModelListing(lambda models, error: self._fillModels(models, error))

    def _fillModels(self, models, error: str = "") -> None:
        self._updating = True
        try:
            current = self._parameterNode.model if self._parameterNode else default_model(models)
            self.ui.modelComboBox.clear()
            for model in models:
                title = model.title + (" (default)" if model.default else "")
                self.ui.modelComboBox.addItem(title, model.name)
                self.ui.modelComboBox.setItemData(self.ui.modelComboBox.count - 1, model.summary, qt.Qt.ToolTipRole)
            index = max(0, self.ui.modelComboBox.findData(current))
            self.ui.modelComboBox.currentIndex = index
        finally:
            self._updating = False
        if error:
            self.ui.statusLabel.text = f"Model list: {error} Showing the built-in models."
        self._onParameterNodeModified()

    def onModelChanged(self, index: int) -> None:
        if self._updating or not self._parameterNode or index < 0:
            return
        self._parameterNode.model = self.ui.modelComboBox.itemData(index)

    def _updateChoices(self) -> None:
        """Disable the precisions and devices that cannot run here, with the reason as tooltip; say what will run
        and how long it should take. Nothing is reset before the environment check has answered."""
        node = self._parameterNode
        if not node:
            return
        environment = self.logic.environment
        cuda = bool(environment and environment.cuda)
        openvino = bool(environment and environment.openvino)
        model = find(self.logic.models, node.model)
        precisions = model.precisions if model else None
        choices = reconcile(node.device, node.precision, environment is not None, cuda, openvino, precisions)
        for index, option in enumerate(choices.device_options):
            _set_item_enabled(self.ui.deviceComboBox, index, option.enabled, option.reason)
        for index, option in enumerate(choices.precision_options):
            _set_item_enabled(self.ui.precisionComboBox, index, option.enabled, option.reason)
        if (choices.device, choices.precision) != (node.device, node.precision):
            with slicer.util.NodeModify(node.parameterNode):
                node.device, node.precision = choices.device, choices.precision
        if environment is None:
            self.ui.deviceInfoLabel.text = "Checking what this computer can run…"
            self.ui.expectedTimeLabel.text = ""
            return
        # an adapted network runs FP32: 'auto' then takes the path it takes on a CPU without fast INT8
        path = predict_path(choices.precision, choices.device, cuda, openvino, precisions,
                            bool(environment.int8_cpu_flags) and not node.adaptToScan)
        if choices.precision is Precision.AUTO:
            self.ui.deviceInfoLabel.text = (f"Auto: the engine picks the fastest path here, most likely "
                                            f"{path.describe()}; it says which when it starts.")
        else:
            self.ui.deviceInfoLabel.text = f"{path.describe()}."
        image = node.inputVolume.GetImageData() if node.inputVolume else None
        if image is None or self._speeds is None:
            self.ui.expectedTimeLabel.text = ""
            return
        x, y, z = image.GetDimensions()
        self.ui.expectedTimeLabel.text = expected_time_text(self._speeds, node.model, path, x * y * z,
                                                            node.selfEnsemble, node.adaptToScan)

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            self._updateChoices()
        finally:
            self._updating = False
        self._updateButtons()

    def _updateButtons(self) -> None:
        node = self._parameterNode
        installing = _running(self._installRunner)
        if _running(self._runner):
            self.ui.applyButton.text, self.ui.applyButton.enabled = "Cancel", True
            self.ui.applyButton.toolTip = "Stop denoising; nothing is added to the scene."
        else:
            ready = bool(node and node.inputVolume) and not installing
            self.ui.applyButton.text, self.ui.applyButton.enabled = "Denoise", ready
            self.ui.applyButton.toolTip = ("Installing packages: wait until it has finished." if installing else
                                           "Denoise the CT volume in the background." if ready else
                                           "Select a CT volume first.")
        environment = self.logic.environment if self.logic else None
        needed = environment is None or bool(dependencies.missing(environment, radiomics=True))
        busy = installing or _running(self._runner) or _running(self._radiomicsRunner)
        self.ui.installDependenciesButton.enabled = needed and not busy
        radiomicsRunning = _running(self._radiomicsRunner)
        radiomicsReady = bool(node and node.segmentation and node.segmentId and node.radiomicsInput
                              and node.radiomicsDenoised) and not installing
        self.ui.computeRadiomicsButton.text = "Cancel" if radiomicsRunning else "Compute"
        self.ui.computeRadiomicsButton.enabled = radiomicsRunning or radiomicsReady
        self.ui.exportCsvButton.enabled = self._lastTable is not None

    # Dependencies ---------------------------------------------------------------------------------------

    def installDependencies(self, radiomics: bool = False) -> bool:
        """Ask once, then install in the background. True when nothing was missing."""
        if self.logic.environment is None:
            self.checkEnvironment()
            return False
        if _running(self._installRunner) or _running(self._runner) or _running(self._radiomicsRunner):
            self.ui.statusLabel.text = "Wait until the running job has finished, then install."
            return False
        plan = self.logic.installPlan(radiomics)
        if plan.empty:
            return True
        if not slicer.util.confirmOkCancelDisplay(dependencies.confirmation_text(plan), "CTDenoise: install packages"):
            self.ui.statusLabel.text = "Not installed. Use 'Install dependencies' when you are ready."
            return False
        self.ui.environmentLabel.text = "Installing… (see the log for pip's output)"
        try:
            runner = self.logic.startInstall(plan, self._onInstalled)
            self._installRunner = runner if _running(runner) else None
        except Exception as error:
            self._onInstalled(RunResult(RunState.FAILED, None, str(error), str(error), 0.0, None), False)
        self._updateButtons()
        return False

    def _onInstalled(self, result: RunResult, restartNeeded: bool) -> None:
        self._installRunner = None
        self._lastLog = result.log
        self.ui.showLogButton.enabled = True
        if result.state is not RunState.SUCCEEDED:
            self.ui.statusLabel.text = f"Installation {result.state.value}: {result.error}"
        elif restartNeeded and slicer.util.confirmYesNoDisplay(
                "Packages that Slicer had already loaded were updated. Restart Slicer now to use them?"):
            slicer.util.restart()
        else:
            self.ui.statusLabel.text = "Installed. No restart is needed: the engine runs in its own process."
        self.checkEnvironment()
        self._updateButtons()

    # Denoise --------------------------------------------------------------------------------------------

    def onApplyButton(self) -> None:
        if _running(self._runner):
            self.ui.statusLabel.text = "Cancelling…"
            self._runner.cancel()
            return
        environment = self.logic.environment
        if environment is not None and dependencies.missing(environment):
            if self._askedToInstall:
                self.ui.statusLabel.text = "PyTorch or another engine package is missing: use 'Install dependencies'."
                return
            self._askedToInstall = True
            self.installDependencies()
            return
        node = self._parameterNode
        options = DenoiseOptions(node.model, node.precision.value, node.device.value, node.maxTileMvox or None,
                                 node.selfEnsemble, node.strength, node.adaptToScan)
        # shown before the start, so that a start failure's message below is what stays on screen
        self._runStatus = RunStatus()
        self.ui.statusLabel.text = self._runStatus.text
        self.ui.progressBar.value, self.ui.progressBar.visible = 0, True
        try:
            with slicer.util.tryWithErrorDisplay("Could not start denoising.", waitCursor=True):
                runner = self.logic.startDenoise(node.inputVolume, node.outputVolume, options, node.keepTemporaryFiles,
                                                 self._onProgress, self._onDenoised, self._onEngineEvent)
            self._runner = runner if _running(runner) else None  # a start that failed at once has reported already
        except Exception as error:
            self._runner = None
            self.ui.progressBar.visible = False
            self.ui.statusLabel.text = f"Could not start denoising: {error}"
        self._updateButtons()

    def _onProgress(self, snapshot: ProgressSnapshot) -> None:
        self._runStatus.snapshot = snapshot
        self.ui.progressBar.value = snapshot.percent
        self.ui.statusLabel.text = self._runStatus.text

    def _onEngineEvent(self, event: EngineEvent) -> None:
        self._runStatus.update(event)
        if event.kind in ("info", "noise"):
            self.ui.statusLabel.text = self._runStatus.text

    def _onDenoised(self, result: RunResult, node) -> None:
        self._runner = None
        self._lastLog = result.log
        self.ui.showLogButton.enabled = True
        self.ui.progressBar.visible = False
        if result.state is RunState.SUCCEEDED:
            noise = f" Input noise about {self._runStatus.noise_hu:.0f} HU." if self._runStatus.noise_hu else ""
            self.ui.statusLabel.text = f"Done in {result.seconds:.0f} s: '{node.GetName()}'.{noise}"
            if self._parameterNode is not None:  # None once the scene was closed
                # the output selector stays on "Create new volume", so the next model's result sits beside this one
                self._parameterNode.radiomicsInput = self._parameterNode.inputVolume
                self._parameterNode.radiomicsDenoised = node
        elif result.state is RunState.CANCELLED:
            self.ui.statusLabel.text = "Cancelled. Nothing was added to the scene."
        else:
            self.ui.statusLabel.text = f"Denoising failed: {result.error}"
        self._updateButtons()

    def onShowLog(self) -> None:
        dialog = qt.QDialog(slicer.util.mainWindow())
        dialog.setWindowTitle("CTDenoise: engine log")
        layout = qt.QVBoxLayout(dialog)
        text = qt.QPlainTextEdit()
        text.setReadOnly(True)
        text.setPlainText(self._lastLog)
        layout.addWidget(text)
        dialog.resize(800, 500)
        dialog.show()
        self._logDialog = dialog  # keep a reference while it is open

    # Radiomics ------------------------------------------------------------------------------------------

    def onSegmentationChanged(self, node) -> None:
        if self._parameterNode:
            self._parameterNode.segmentation = node

    def onSegmentChanged(self, segmentId: str) -> None:
        if self._parameterNode:
            self._parameterNode.segmentId = segmentId or ""

    def onComputeRadiomics(self) -> None:
        if _running(self._radiomicsRunner):
            self._radiomicsRunner.cancel()
            return
        environment = self.logic.environment
        if environment is not None and dependencies.missing(environment, radiomics=True):
            self.installDependencies(radiomics=True)
            return
        node = self._parameterNode
        self.ui.radiomicsStatusLabel.text = "Computing features in the background…"
        try:
            with slicer.util.tryWithErrorDisplay("Could not start the radiomics comparison.", waitCursor=True):
                runner = self.logic.startRadiomics(
                    node.segmentation, node.segmentId, node.radiomicsInput, node.radiomicsDenoised,
                    node.radiomicsReference, node.flagThresholdPercent, self._onRadiomics)
            self._radiomicsRunner = runner if _running(runner) else None
        except Exception as error:
            self._radiomicsRunner = None
            self.ui.radiomicsStatusLabel.text = f"Could not start the radiomics comparison: {error}"
        self._updateButtons()

    def _onRadiomics(self, result: RunResult, table: FeatureTable | None) -> None:
        self._radiomicsRunner = None
        self._lastLog = result.log
        self.ui.showLogButton.enabled = True
        if table is not None and self._parameterNode is not None:
            self._lastTable = table
            tableNode = self.logic.showRadiomicsTable(table)
            self.ui.radiomicsTableView.setMRMLTableNode(tableNode)
            flagged = sum(1 for row in table.rows if row.flagged)
            self.ui.radiomicsStatusLabel.text = (
                f"{len(table.rows)} features; {flagged} differ from {table.reference} by more than "
                f"{table.threshold_percent:g} %.")
        elif table is None:
            self.ui.radiomicsStatusLabel.text = f"Radiomics {result.state.value}: {result.error}"
        self._updateButtons()

    def onExportCsv(self) -> None:
        path = qt.QFileDialog.getSaveFileName(None, "Export radiomics comparison", "ctdenoise-radiomics.csv",
                                              "CSV files (*.csv)")
        if path and self._lastTable is not None:
            with slicer.util.tryWithErrorDisplay("Could not write the CSV file."):
                write_csv(self._lastTable, path)
