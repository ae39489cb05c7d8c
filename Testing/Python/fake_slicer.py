"""Stand-ins for what the module's Slicer-side files need from a running Slicer application and that no test here
can have: Qt and ``slicer.app`` (``qt_and_application``; slicer-core has neither). The logic runs on Slicer's real
MRML classes in the test_slicer_core_*.py files (slicer_core_harness.py).

The panel (widget.py) cannot be built without the Qt fakes, so its tests (test_slicer_widget_fake.py) also use the
small fake MRML scene below; test_slicer_core_fakes.py checks that every method it implements exists on the real
class it stands for. Only what the panel calls is here; anything else raises AttributeError.
"""

from __future__ import annotations

import contextlib
import sys
import types
from pathlib import Path

SLICER_SIDE = ("logic", "widget", "parameter_node", "slicer_nodes", "self_test", "sample_data")


class FakeNode:
    """Any MRML node of the panel's tests (MRML; only because the panel needs the Qt fakes)."""

    STANDS_FOR = ("vtkMRMLScalarVolumeNode", "vtkMRMLSegmentationNode")

    def __init__(self, scene: "FakeScene | None", class_name: str, name: str = "") -> None:
        self.scene, self.class_name, self.name = scene, class_name, name
        self.image = None

    def GetName(self): return self.name
    def GetImageData(self): return self.image


class FakeImage:
    """vtkImageData (VTK; only because the panel needs the Qt fakes)."""

    STANDS_FOR = ("vtkImageData",)

    def __init__(self, dimensions=(4, 4, 2)) -> None:
        self.dimensions = dimensions

    def GetDimensions(self): return self.dimensions


class FakeScene:
    """vtkMRMLScene (MRML; only because the panel needs the Qt fakes)."""

    STANDS_FOR = ("vtkMRMLScene",)
    StartCloseEvent, EndCloseEvent = 8451, 8707  # vtkMRMLScene's values

    def __init__(self) -> None:
        self.nodes: list[FakeNode] = []

    def AddNewNodeByClass(self, class_name, name=""):
        node = FakeNode(self, class_name, name)
        self.nodes.append(node)
        return node

    def GetFirstNodeByClass(self, class_name):
        return next((n for n in self.nodes if n.class_name == class_name), None)

    def by_class(self, class_name): return [n for n in self.nodes if n.class_name == class_name]


def _parameter_node_wrapper(cls):
    """slicer.parameterNodeWrapper (Qt: Slicer's binds the panel's widgets): plain attributes."""
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


class _Range:  # parameterNodeWrapper.WithinRange (see above)
    def __init__(self, *args) -> None:
        self.args = args


class _ScriptedLoadableModuleWidget:  # Qt: Slicer's builds a panel
    reloads = 0

    def __init__(self, parent=None) -> None:
        self.parent = parent

    def onReload(self):
        _ScriptedLoadableModuleWidget.reloads += 1


class _ScriptedLoadableModuleLogic:  # Slicer's module file imports qt, ctk and slicer.app
    def __init__(self, parent=None) -> None:
        pass

    def getParameterNode(self): return None


class _Mixin:  # slicer.util.VTKObservationMixin, for the panel only (it needs the Qt fakes)
    def __init__(self): pass
    def addObserver(self, *args): pass
    def removeObserver(self, *args): pass
    def removeObservers(self, *args): pass


def forget_slicer_side() -> None:
    """Drop the Slicer-side files bound to the fakes, so that no later test sees them."""
    for stem in SLICER_SIDE:
        sys.modules.pop(f"CTDenoiseSlicerLib.{stem}", None)


def qt_and_application(tmp_path: Path) -> types.SimpleNamespace:
    """What needs Qt or ``slicer.app``, which no test here can have (slicer-core has neither): the ``qt`` module
    (a timer that never fires: runners are polled by ``wait``), the scripted-module base classes and the parameter
    node wrapper (their Slicer versions import Qt), ``slicer.app`` (temporary folder, event loop, no layout
    manager: batch mode) and the Qt dialogs of ``slicer.util``."""
    app = types.SimpleNamespace(temporaryPath=str(tmp_path), processEvents=lambda: None, layoutManager=lambda: None,
                                connect=lambda *args: None)
    dialogs = types.SimpleNamespace(confirm=True, restart=0)

    @contextlib.contextmanager
    def try_with_error_display(message=None, show=True, waitCursor=False):
        yield  # Slicer shows a message box, then raises again

    qt_util = dict(tryWithErrorDisplay=try_with_error_display,
                   confirmOkCancelDisplay=lambda *args, **kwargs: dialogs.confirm,
                   confirmYesNoDisplay=lambda *args, **kwargs: False, restart=lambda: None, mainWindow=lambda: None)
    slm = types.ModuleType("slicer.ScriptedLoadableModule")
    slm.ScriptedLoadableModule, slm.ScriptedLoadableModuleTest = object, object
    slm.ScriptedLoadableModuleWidget = _ScriptedLoadableModuleWidget
    slm.ScriptedLoadableModuleLogic = _ScriptedLoadableModuleLogic
    wrapper = types.ModuleType("slicer.parameterNodeWrapper")
    wrapper.parameterNodeWrapper, wrapper.WithinRange = _parameter_node_wrapper, _Range
    qt = types.ModuleType("qt")
    qt.QTimer = types.SimpleNamespace(singleShot=lambda milliseconds, callback: None)
    qt.Qt = types.SimpleNamespace(ToolTipRole=3)
    modules = {"qt": qt, "slicer.ScriptedLoadableModule": slm, "slicer.parameterNodeWrapper": wrapper}
    return types.SimpleNamespace(app=app, dialogs=dialogs, util=qt_util, modules=modules)


def install(monkeypatch, tmp_path: Path) -> types.SimpleNamespace:
    """Put the fakes in ``sys.modules`` (undone by monkeypatch) and import the panel's files afresh; call
    ``forget_slicer_side`` afterwards."""
    scene = FakeScene()
    qt_side = qt_and_application(tmp_path)
    # the MRML and VTK side of slicer, slicer.util and vtk: only because the panel cannot run without the Qt fakes
    util = types.SimpleNamespace(
        NodeModify=lambda node: contextlib.nullcontext(), VTKObservationMixin=_Mixin, getNodesByClass=scene.by_class,
        **qt_side.util)
    slicer = types.ModuleType("slicer")
    slicer.__path__ = []
    slicer.util, slicer.app, slicer.mrmlScene = util, qt_side.app, scene
    slicer.vtkMRMLScalarVolumeNode, slicer.vtkMRMLSegmentationNode = FakeNode, FakeNode
    util_module = types.ModuleType("slicer.util")
    util_module.__dict__.update(vars(util))
    vtk = types.ModuleType("vtk")
    vtk.vtkCommand = types.SimpleNamespace(ModifiedEvent=33)
    for name, module in (("slicer", slicer), ("slicer.util", util_module), ("vtk", vtk), *qt_side.modules.items()):
        monkeypatch.setitem(sys.modules, name, module)
    forget_slicer_side()
    import importlib

    modules = {stem: importlib.import_module(f"CTDenoiseSlicerLib.{stem}")
               for stem in ("parameter_node", "slicer_nodes", "logic", "widget")}
    return types.SimpleNamespace(scene=scene, dialogs=qt_side.dialogs, widget_base=_ScriptedLoadableModuleWidget,
                                 **modules)
