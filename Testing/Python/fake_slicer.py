"""A fake of the few Slicer, Qt and VTK calls the module's Slicer-side files make, so that the widget's and the
logic's behaviour can be tested without Slicer. Only what those files call is here; anything else raises
AttributeError, so a new Slicer call shows up as a test failure until it is faked (and looked up in
test_slicer_api_versions.py).
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import types
from pathlib import Path

SLICER_SIDE = ("logic", "widget", "parameter_node", "slicer_nodes", "self_test", "sample_data")


class FakeNode:
    _ids = itertools.count(1)

    def __init__(self, scene: "FakeScene | None", class_name: str, name: str = "") -> None:
        self.scene, self.class_name, self.name = scene, class_name, name
        self.id = f"{class_name}{next(self._ids)}"
        self.attributes: dict[str, str] = {}
        self.display: FakeNode | None = None
        self.color: FakeNode | None = None
        self.image = None
        self.series_ids: list[str] = []

    def GetID(self): return self.id
    def GetName(self): return self.name
    def SetName(self, name): self.name = name
    def GetScene(self): return self.scene
    def IsA(self, class_name): return self.class_name == class_name
    def GetAttribute(self, key): return self.attributes.get(key)
    def SetAttribute(self, key, value): self.attributes[key] = value
    def GetDisplayNode(self): return self.display
    def GetColorNode(self): return self.color
    def GetColorNodeID(self): return self.color.id if self.color else None
    def GetImageData(self): return self.image
    def SetAndObserveImageData(self, image): self.image = image
    def CopyOrientation(self, other): pass
    def GetTransformNodeID(self): return None
    def SetAndObserveTransformNodeID(self, node_id): pass
    def GetTable(self): return FakeVtkTable()
    def Modified(self): pass
    def SetTitle(self, text): pass
    def SetXAxisTitle(self, text): pass
    def SetYAxisTitle(self, text): pass
    def RemoveAllPlotSeriesNodeIDs(self): self.series_ids.clear()
    def AddAndObservePlotSeriesNodeID(self, node_id): self.series_ids.append(node_id)
    def SetAndObserveTableNodeID(self, node_id): pass
    def SetYColumnName(self, name): pass
    def SetLabelColumnName(self, name): pass
    def SetPlotType(self, kind): pass

    def CreateDefaultDisplayNodes(self) -> None:
        if self.display is None and self.scene is not None:
            self.display = self.scene.AddNewNodeByClass("vtkMRMLScalarVolumeDisplayNode")
            self.display.color = self.scene.default_color


class FakeImage:
    def __init__(self, dimensions=(4, 4, 2)) -> None:
        self.dimensions = dimensions

    def GetDimensions(self): return self.dimensions


class FakeVtkArray:
    def __init__(self) -> None:
        self.values: list = []

    def SetName(self, name): self.name = name
    def InsertNextValue(self, value): self.values.append(value)


class FakeVtkTable:
    def Initialize(self): pass
    def AddColumn(self, column): pass


class FakeScene:
    StartCloseEvent, EndCloseEvent = 66000, 66001

    def __init__(self) -> None:
        self.nodes: list[FakeNode] = []
        self.default_color = self.AddNewNodeByClass("vtkMRMLColorTableNode", "GenericAnatomyColors")

    def AddNewNodeByClass(self, class_name, name=""):
        node = FakeNode(self, class_name, name)
        self.nodes.append(node)
        return node

    def RemoveNode(self, node):
        if node in self.nodes:
            self.nodes.remove(node)
            node.scene = None

    def GetFirstNodeByClass(self, class_name):
        return next((n for n in self.nodes if n.class_name == class_name), None)

    def GetNumberOfNodes(self): return len(self.nodes)

    def by_class(self, class_name): return [n for n in self.nodes if n.class_name == class_name]


class Recorder:
    """Records calls by name; answers what it was told to."""

    def __init__(self, **answers) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.answers = answers

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)

        def call(*args, **kwargs):
            self.calls.append((name, args))
            answer = self.answers.get(name)
            return answer(*args, **kwargs) if callable(answer) else answer
        return call

    def count(self, name): return sum(1 for called, _ in self.calls if called == name)


def _parameter_node_wrapper(cls):
    defaults = {name: getattr(cls, name, None) for name in cls.__annotations__}

    class Wrapped:
        def __init__(self, parameterNode=None) -> None:
            self.parameterNode = parameterNode
            for name, value in defaults.items():
                setattr(self, name, value)

        def connectGui(self, ui): return "tag"
        def disconnectGui(self, tag): pass

    Wrapped.__name__ = cls.__name__
    return Wrapped


class _Range:
    def __init__(self, *args) -> None:
        self.args = args


class _ScriptedLoadableModuleWidget:
    reloads = 0

    def __init__(self, parent=None) -> None:
        self.parent = parent

    def onReload(self):
        _ScriptedLoadableModuleWidget.reloads += 1


class _ScriptedLoadableModuleLogic:
    def __init__(self, parent=None) -> None:
        pass

    def getParameterNode(self): return None


class _Mixin:
    def __init__(self): pass
    def addObserver(self, *args): pass
    def removeObserver(self, *args): pass
    def removeObservers(self, *args): pass


def forget_slicer_side() -> None:
    """Drop the Slicer-side files bound to the fakes, so that no later test sees them."""
    for stem in SLICER_SIDE:
        sys.modules.pop(f"CTDenoiseSlicerLib.{stem}", None)


def install(monkeypatch, tmp_path: Path) -> types.SimpleNamespace:
    """Put the fakes in ``sys.modules`` (undone by monkeypatch) and import the Slicer-side files afresh; call
    ``forget_slicer_side`` afterwards."""
    scene = FakeScene()
    plots, segmentations = Recorder(), Recorder()
    app = types.SimpleNamespace(temporaryPath=str(tmp_path), processEvents=lambda: None, layoutManager=lambda: None,
                                connect=lambda *args: None)
    dialogs = types.SimpleNamespace(confirm=True, restart=0)

    @contextlib.contextmanager
    def try_with_error_display(message=None, show=True, waitCursor=False):
        yield  # Slicer shows a message box, then raises again

    def export_node(node, path, properties=None, world=False):
        Path(path).write_bytes(b"NRRD0004\n")
        return True

    def load_volume(path, properties=None):
        node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", Path(path).stem)
        node.image = FakeImage(loaded_dimensions[0])
        return node

    loaded_dimensions = [(4, 4, 2)]
    util = types.SimpleNamespace(
        NodeModify=lambda node: contextlib.nullcontext(), tryWithErrorDisplay=try_with_error_display,
        VTKObservationMixin=_Mixin, getNodesByClass=scene.by_class, exportNode=export_node, loadVolume=load_volume,
        confirmOkCancelDisplay=lambda *args, **kwargs: dialogs.confirm,
        confirmYesNoDisplay=lambda *args, **kwargs: False, restart=lambda: None, mainWindow=lambda: None)
    slicer = types.ModuleType("slicer")
    slicer.__path__ = []
    slicer.util, slicer.app, slicer.mrmlScene = util, app, scene
    slicer.modules = types.SimpleNamespace(plots=types.SimpleNamespace(logic=lambda: plots),
                                           segmentations=types.SimpleNamespace(logic=lambda: segmentations))
    slicer.vtkMRMLScalarVolumeNode, slicer.vtkMRMLSegmentationNode = FakeNode, FakeNode
    slicer.vtkMRMLLayoutNode = types.SimpleNamespace(SlicerLayoutSideBySideView=29)
    slicer.vtkMRMLPlotSeriesNode = types.SimpleNamespace(PlotTypeBar=2)
    slm = types.ModuleType("slicer.ScriptedLoadableModule")
    slm.ScriptedLoadableModule, slm.ScriptedLoadableModuleTest = object, object
    slm.ScriptedLoadableModuleWidget = _ScriptedLoadableModuleWidget
    slm.ScriptedLoadableModuleLogic = _ScriptedLoadableModuleLogic
    wrapper = types.ModuleType("slicer.parameterNodeWrapper")
    wrapper.parameterNodeWrapper, wrapper.WithinRange = _parameter_node_wrapper, _Range
    util_module = types.ModuleType("slicer.util")
    util_module.__dict__.update(vars(util))
    qt = types.ModuleType("qt")
    qt.QTimer = types.SimpleNamespace(singleShot=lambda milliseconds, callback: None)
    qt.Qt = types.SimpleNamespace(ToolTipRole=3)
    vtk = types.ModuleType("vtk")
    vtk.vtkCommand = types.SimpleNamespace(ModifiedEvent=33)
    vtk.vtkStringArray = vtk.vtkDoubleArray = FakeVtkArray
    for name, module in (("slicer", slicer), ("slicer.ScriptedLoadableModule", slm), ("slicer.util", util_module),
                         ("slicer.parameterNodeWrapper", wrapper), ("qt", qt), ("vtk", vtk)):
        monkeypatch.setitem(sys.modules, name, module)
    forget_slicer_side()
    import importlib

    modules = {stem: importlib.import_module(f"CTDenoiseSlicerLib.{stem}")
               for stem in ("parameter_node", "slicer_nodes", "logic", "widget")}
    return types.SimpleNamespace(scene=scene, plots=plots, segmentations=segmentations, dialogs=dialogs,
                                 loaded_dimensions=loaded_dimensions, widget_base=_ScriptedLoadableModuleWidget,
                                 **modules)
