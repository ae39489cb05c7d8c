"""CTDenoiseLogic: denoising and radiomics in a background engine process; usable from scripts without the GUI.

Every ``start...`` method returns at once with a runner polled by a Qt timer; the matching blocking method
(``denoise``, ``computeRadiomics``) is for scripts and the self-test.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
from typing import Callable

import qt
import slicer
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleLogic

from . import dependencies, engine_command, slicer_nodes
from .command_sequence import CommandSequence
from .engine_command import DenoiseOptions
from .model_catalog import BUILTIN_MODELS, ModelInfo, find, parse_models_json
from .parameter_node import CTDenoiseParameterNode
from .process_runner import ProcessRunner, RunResult, RunState, Schedule
from .progress import EngineEvent, ProgressSnapshot, RunStatus
from .radiomics_table import FeatureTable, compare


def _qt_schedule(milliseconds: int, callback: Callable[[], None]) -> None:
    qt.QTimer.singleShot(milliseconds, callback)


class CTDenoiseLogic(ScriptedLoadableModuleLogic):
    def __init__(self, python: str | None = None, schedule: Schedule | None = None) -> None:
        """Args:
            python: the Python that runs the engine (``PythonSlicer`` when None).
            schedule: ``schedule(milliseconds, callback)`` that polls the runners (a Qt timer when None).
        """
        ScriptedLoadableModuleLogic.__init__(self)
        self.python = python or engine_command.python_executable()
        self._schedule = schedule or _qt_schedule
        self.models: list[ModelInfo] = list(BUILTIN_MODELS)
        self.environment: dependencies.Environment | None = None

    def getParameterNode(self) -> CTDenoiseParameterNode:
        return CTDenoiseParameterNode(super().getParameterNode())

    def _runner(self, args: list[str], **kwargs) -> ProcessRunner:
        return ProcessRunner(args, schedule=self._schedule, cwd=engine_command.engine_dir(),
                             env=engine_command.child_environment(), **kwargs)

    def _work_dir(self) -> str:
        return tempfile.mkdtemp(prefix="CTDenoise-", dir=slicer.app.temporaryPath)

    # Environment and models ---------------------------------------------------------------------------

    def startEnvironmentProbe(self, onDone: Callable[[dependencies.Environment | None, str], None]) -> ProcessRunner:
        """Which packages are installed and whether torch sees a GPU, asked of a child Python."""
        def finished(result: RunResult) -> None:
            environment, error = None, result.error
            if result.state is RunState.SUCCEEDED:
                try:
                    environment = dependencies.Environment.from_json(result.stdout)
                except ValueError as exception:
                    error = str(exception)
            self.environment = environment
            onDone(environment, error)
        return self._runner([self.python, "-m", "CTDenoiseSlicerLib.probe_environment"], on_finished=finished).start()

    def startModelListing(self, onDone: Callable[[list[ModelInfo], str], None]) -> ProcessRunner:
        """The networks the engine offers (built-in and user-registered); the built-in list until it answers."""
        def finished(result: RunResult) -> None:
            error = result.error
            if result.state is RunState.SUCCEEDED:
                try:
                    self.models = parse_models_json(result.stdout)
                except ValueError as exception:
                    error = f"could not read the model list: {exception}"
            onDone(self.models, error)
        return self._runner(engine_command.models_command(self.python), on_finished=finished).start()

    def modelTitle(self, name: str) -> str:
        model = find(self.models, name)
        return model.title if model else name

    # Denoising ----------------------------------------------------------------------------------------

    def startDenoise(self, inputVolume, outputVolume=None, options: DenoiseOptions = DenoiseOptions(),
                     keepTemporaryFiles: bool = False,
                     onProgress: Callable[[ProgressSnapshot], None] | None = None,
                     onFinished: Callable[[RunResult, object], None] | None = None,
                     onEvent: Callable[[EngineEvent], None] | None = None) -> ProcessRunner:
        """Write the input to a temporary NRRD, run ``denoise`` in the background and, on success, load the result
        into ``outputVolume`` (a new volume when None) named after the input, the model and the precision the
        engine chose. Cancel or failure leaves no node and no temporary file (unless asked to keep them after a
        failure).

        Args:
            inputVolume: the low-dose CT.
            outputVolume: an existing volume to overwrite (and rename), or None for a new one.
            options: model, precision, device, strength and the advanced choices.
            keepTemporaryFiles: keep the engine's files after a failure.
            onProgress: percent and time left.
            onFinished: ``(result, outputNode)``; the node is None unless the run succeeded.
            onEvent: every engine event (what it chose to run, the input's noise, ...).
        """
        if inputVolume is None or inputVolume.GetImageData() is None:
            raise ValueError("Select a CT volume with image data.")
        if outputVolume is not None and outputVolume == inputVolume:
            raise ValueError("The output must be a different volume from the input.")
        work = self._work_dir()
        try:
            inputPath = slicer_nodes.export_volume(
                inputVolume, os.path.join(work, engine_command.safe_file_stem(inputVolume.GetName()) + ".nrrd"))
            outputPath = os.path.join(work, "denoised.nrrd")
            args = engine_command.denoise_command(self.python, inputPath, outputPath, options)
        except Exception:
            shutil.rmtree(work, ignore_errors=True)
            raise
        status = RunStatus()

        def event(engineEvent: EngineEvent) -> None:
            status.update(engineEvent)
            if onEvent:
                onEvent(engineEvent)

        def finished(result: RunResult) -> None:
            node = None
            if result.state is RunState.SUCCEEDED:
                try:
                    if inputVolume.GetScene() is None:  # removed, or its scene closed, while the engine ran
                        raise RuntimeError("the input volume was removed from the scene during the run.")
                    precision = status.path[0] if status.path else options.precision
                    name = engine_command.output_volume_name(inputVolume.GetName(), self.modelTitle(options.model),
                                                             precision, options.strength)
                    target = outputVolume if outputVolume is not None and outputVolume.GetScene() is not None else None
                    node = slicer_nodes.load_result(outputPath, inputVolume, target, name)
                    slicer_nodes.show_side_by_side(inputVolume, node)
                except Exception as error:  # report a load failure like an engine failure
                    result = dataclasses.replace(result, state=RunState.FAILED,
                                                 error=f"could not load the result: {error}")
            if keepTemporaryFiles:
                result = dataclasses.replace(result, log=result.log + f"\n[temporary files kept in {work}]")
            if onFinished:
                onFinished(result, node)

        return self._runner(args, on_progress=onProgress, on_event=event, on_finished=finished, temp_dir=work,
                            keep_temp=keepTemporaryFiles).start()

    def denoise(self, inputVolume, outputVolume=None, options: DenoiseOptions = DenoiseOptions(),
                timeout: float | None = None):
        """Blocking denoise for scripts and tests; returns the output volume or raises with the engine's error."""
        outcome = {}
        runner = self.startDenoise(inputVolume, outputVolume, options,
                                   onFinished=lambda result, node: outcome.update(result=result, node=node))
        runner.wait(timeout, idle=slicer.app.processEvents)
        result = outcome["result"]
        if result.state is not RunState.SUCCEEDED:
            raise RuntimeError(f"Denoising {result.state.value}: {result.error}")
        return outcome["node"]

    # Radiomics ----------------------------------------------------------------------------------------

    def startRadiomics(self, segmentation, segmentId: str, lowDose, denoised, reference=None,
                       thresholdPercent: float = 10.0,
                       onFinished: Callable[[RunResult, FeatureTable | None], None] | None = None) -> ProcessRunner:
        """Export the nodule on the low-dose grid and the images, all in world coordinates, run ``radiomics``,
        compare in a table."""
        if not (segmentation and segmentId and lowDose and denoised):
            raise ValueError("Select the nodule segment, the low-dose image and the denoised image.")
        work = self._work_dir()
        labels = ["lowdose", "denoised"]
        referencePath = None
        try:
            mask = slicer_nodes.export_segment(segmentation, segmentId, lowDose, os.path.join(work, "nodule.nrrd"))
            # in world coordinates, as the mask: an image under another transform than the low-dose one (a
            # registered normal-dose scan) is compared where it is, the engine bringing the mask onto its grid
            images = [slicer_nodes.export_volume(node, os.path.join(work, f"{label}.nrrd"), world=True)
                      for node, label in ((lowDose, "lowdose"), (denoised, "denoised"))]
            if reference is not None:
                referencePath = slicer_nodes.export_volume(reference, os.path.join(work, "reference.nrrd"),
                                                           world=True)
                labels.append("reference")
        except Exception:
            shutil.rmtree(work, ignore_errors=True)
            raise
        outputDir = os.path.join(work, "radiomics")

        def finished(result: RunResult) -> None:
            table = None
            if result.state is RunState.SUCCEEDED:
                try:
                    table = compare(os.path.join(outputDir, "features.csv"), labels,
                                    "reference" if reference is not None else "lowdose", thresholdPercent)
                except (OSError, ValueError) as error:  # never an empty table as a result
                    result = dataclasses.replace(result, state=RunState.FAILED, error=str(error))
            if onFinished:
                onFinished(result, table)

        args = engine_command.radiomics_command(self.python, mask, images, outputDir, referencePath)
        return self._runner(args, on_finished=finished, temp_dir=work).start()

    def showRadiomicsTable(self, table: FeatureTable, tableNode=None):
        """Fill a table node (the one of the previous Compute unless one is given) and show the relative
        differences as a bar chart, reusing the chart and its series too."""
        if tableNode is None:
            tableNode, _ = slicer_nodes.reuse_or_add("vtkMRMLTableNode", "radiomicsTable", "CTDenoise radiomics")
        slicer_nodes.fill_table_node(tableNode, table)
        slicer_nodes.show_relative_difference_plot(tableNode, table, "CTDenoise relative differences")
        return tableNode

    def computeRadiomics(self, segmentation, segmentId, lowDose, denoised, reference=None,
                         thresholdPercent: float = 10.0, timeout: float | None = None) -> FeatureTable:
        outcome = {}
        runner = self.startRadiomics(segmentation, segmentId, lowDose, denoised, reference, thresholdPercent,
                                     onFinished=lambda result, table: outcome.update(result=result, table=table))
        runner.wait(timeout, idle=slicer.app.processEvents)
        if outcome["result"].state is not RunState.SUCCEEDED:
            raise RuntimeError(f"Radiomics {outcome['result'].state.value}: {outcome['result'].error}")
        return outcome["table"]

    # Dependencies -------------------------------------------------------------------------------------

    def installPlan(self, radiomics: bool = False) -> dependencies.InstallPlan:
        if self.environment is None:
            raise RuntimeError("The Python environment has not been checked yet.")
        return dependencies.plan_install(dependencies.missing(self.environment, radiomics),
                                         pytorchutils_available=dependencies.pytorchutils_available())

    def startInstall(self, plan: dependencies.InstallPlan,
                     onFinished: Callable[[RunResult, bool], None]) -> CommandSequence:
        """pip packages (NumPy/SimpleITK pinned), then torch through light-the-torch when the PyTorch extension
        is installed, each as a background process. ``onFinished(result, restartNeeded)`` is always called once,
        whether the steps succeed, fail, are cancelled or cannot start."""
        work = self._work_dir()
        constraints = os.path.join(work, "constraints.txt")
        with open(constraints, "w", encoding="utf-8") as handle:
            handle.write(dependencies.constraints_text(self.environment.packages if self.environment else {}))

        def done(result: RunResult) -> None:
            onFinished(result, dependencies.restart_needed(plan.distributions, set(sys.modules)))

        commands = dependencies.install_commands(plan, self.python, constraints)
        return CommandSequence(commands, self._runner, on_finished=done, temp_dir=work).start()
