"""Every Slicer API the module calls exists in the minimum Slicer version it declares.

The names come from the module files' AST (``slicer_api_names``); the table says in which Slicer release each
first appears, found by reading Slicer's source at its release tags (the earliest of 4.10, 4.11, 5.0, 5.2, 5.4,
... that has it: "4.10" means "at least as old as 4.10"). A name missing from the table fails, so a new call must
be looked up before it is used; a name newer than the minimum fails, as ``registerCustomSampleDataCategory``
(5.12) would have.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO / "CTDenoise"))

import CTDenoiseSlicerLib  # noqa: E402

from slicer_api_names import api_names  # noqa: E402

FILES = [REPO / "CTDenoise/CTDenoise.py", REPO / "CTDenoiseTraining/CTDenoiseTraining.py",
         *sorted((REPO / "CTDenoise/CTDenoiseSlicerLib").glob("*.py"))]

INTRODUCED = {
    # Qt classes reach Python through PythonQt; they predate every Slicer release checked
    "qt.QDialog": "4.10", "qt.QFileDialog.getSaveFileName": "4.10", "qt.QPlainTextEdit": "4.10",
    "qt.QTimer.singleShot": "4.10", "qt.QVBoxLayout": "4.10", "qt.Qt.ToolTipRole": "4.10",
    # Base/Python/slicer/ScriptedLoadableModule.py
    "slicer.ScriptedLoadableModule.ScriptedLoadableModule": "4.10",
    "slicer.ScriptedLoadableModule.ScriptedLoadableModuleLogic": "4.10",
    "slicer.ScriptedLoadableModule.ScriptedLoadableModuleTest": "4.10",
    "slicer.ScriptedLoadableModule.ScriptedLoadableModuleWidget.onReload": "4.10",
    "slicer.ScriptedLoadableModule.ScriptedLoadableModuleWidget.setup": "4.10",
    # Base/Python/slicer/util.py
    "slicer.util.NodeModify": "4.10", "slicer.util.VTKObservationMixin": "4.10", "slicer.util.arrayFromVolume": "4.10",
    "slicer.util.childWidgetVariables": "4.11", "slicer.util.confirmOkCancelDisplay": "4.10",
    "slicer.util.confirmYesNoDisplay": "4.10", "slicer.util.delayDisplay": "4.10", "slicer.util.exportNode": "5.0",
    "slicer.util.getNodesByClass": "4.10", "slicer.util.loadUI": "4.10", "slicer.util.loadVolume": "4.10",
    "slicer.util.mainWindow": "4.10", "slicer.util.restart": "4.10", "slicer.util.tryWithErrorDisplay": "5.0",
    # Base/Python/slicer/i18n.py and parameterNodeWrapper/
    "slicer.i18n.tr": "5.4", "slicer.i18n.translate": "5.4",
    "slicer.parameterNodeWrapper.parameterNodeWrapper": "5.4", "slicer.parameterNodeWrapper.WithinRange": "5.4",
    # Modules/Scripted/SampleData/SampleData.py
    "SampleData.SampleDataLogic.registerCustomSampleDataSource": "4.10",
    "SampleData.SampleDataLogic().downloadSamples": "4.11",
    "SampleData.SampleDataLogic.registerCustomSampleDataCategory": "5.12",  # not to be used: the minimum is 5.10
    # qSlicerCoreApplication / qSlicerApplication (processEvents is QCoreApplication's)
    "slicer.app.connect": "4.10", "slicer.app.layoutManager": "4.10", "slicer.app.processEvents": "4.10",
    "slicer.app.temporaryPath": "4.10",
    # vtkMRMLScene.h
    "slicer.mrmlScene.AddNewNodeByClass": "4.10", "slicer.mrmlScene.Clear": "4.10",
    "slicer.mrmlScene.EndCloseEvent": "4.10", "slicer.mrmlScene.StartCloseEvent": "4.10",
    "slicer.mrmlScene.GetFirstNodeByClass": "4.10", "slicer.mrmlScene.GetNumberOfNodes": "4.10",
    "slicer.mrmlScene.RemoveNode": "4.10",
    # module logics (vtkSlicerPlotsLogic.h, vtkSlicerSegmentationsModuleLogic.h)
    "slicer.modules.plots.logic().ShowChartInLayout": "4.10",
    "slicer.modules.segmentations.logic().ExportSegmentsToLabelmapNode": "4.10",
    # MRML classes and enums
    "slicer.vtkMRMLLayoutNode.SlicerLayoutSideBySideView": "4.10", "slicer.vtkMRMLPlotSeriesNode.PlotTypeBar": "4.10",
    "slicer.vtkMRMLScalarVolumeNode": "4.10", "slicer.vtkMRMLSegmentationNode": "4.10",
}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def too_new(names: set[str], minimum: str) -> tuple[list[str], list[str]]:
    """(names the table lacks, names introduced after ``minimum``)."""
    unknown = sorted(name for name in names if name not in INTRODUCED)
    newer = sorted(name for name in names if name in INTRODUCED and _version(INTRODUCED[name]) > _version(minimum))
    return unknown, newer


def test_module_uses_only_apis_of_its_minimum_slicer_version() -> None:
    names = set().union(*(api_names(path.read_text(encoding="utf-8")) for path in FILES))
    assert len(names) > 30, "the AST walk found too few names: is it still reading the files?"
    unknown, newer = too_new(names, CTDenoiseSlicerLib.MINIMUM_SLICER_VERSION)
    assert not unknown, f"look up the Slicer version that introduced {unknown} and add it to INTRODUCED"
    assert not newer, f"{newer} are newer than Slicer {CTDenoiseSlicerLib.MINIMUM_SLICER_VERSION}"


@pytest.mark.parametrize("source, expected", [
    ("import SampleData\nSampleData.SampleDataLogic.registerCustomSampleDataCategory('C', title='C')\n",
     "SampleData.SampleDataLogic.registerCustomSampleDataCategory"),
    ("import SampleData\nlogic = SampleData.SampleDataLogic\nlogic.registerCustomSampleDataCategory('C', 'C')\n",
     "SampleData.SampleDataLogic.registerCustomSampleDataCategory"),
])
def test_a_newer_api_is_caught_even_through_an_alias(source: str, expected: str) -> None:
    assert expected in api_names(source)
    assert too_new(api_names(source), "5.10")[1] == [expected]


def test_names_are_resolved_through_from_imports_and_calls() -> None:
    source = ("from slicer.util import VTKObservationMixin as Mixin\nimport slicer, qt\n"
              "class W(Mixin):\n    pass\n"
              "slicer.modules.plots.logic().ShowChartInLayout(c).GetThing()\nqt.QTimer.singleShot(0, f)\n")
    assert api_names(source) == {"slicer.util.VTKObservationMixin", "slicer.modules.plots.logic().ShowChartInLayout",
                                 "qt.QTimer.singleShot"}
    assert too_new({"slicer.util.notAnApi"}, "5.10")[0] == ["slicer.util.notAnApi"]


def test_docs_state_the_minimum_version() -> None:
    text = (REPO / "docs/slicer.md").read_text(encoding="utf-8")
    assert re.search(rf"Slicer \*\*{re.escape(CTDenoiseSlicerLib.MINIMUM_SLICER_VERSION)} or later\*\*", text)
