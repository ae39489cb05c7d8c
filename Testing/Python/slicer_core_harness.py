"""The module's Slicer-side files on Slicer's real MRML classes and module logics (the ``slicer-core`` wheel,
``pip install -e .[slicer-core]``), without the Slicer application.

slicer-core has MRML, the volumes, segmentations and plots logics and ``slicer.util``, but not what the
application sets up with Qt: ``slicer.app``, ``slicer.mrmlScene``, ``slicer.modules``, and the Qt I/O manager behind
``slicer.util.loadVolume`` and ``slicer.util.exportNode``. This file supplies only those:

- a scene with the application logic and the module logics registered as ``qSlicerCoreApplication`` and the
  modules' ``setup()`` do, and the layout node and view nodes the layout manager adds;
- ``load_volume``: ``qSlicerVolumesReader::load``, i.e. ``vtkSlicerVolumesLogic.AddArchetypeVolume``;
- ``export_node``: ``qSlicerCoreIOManager::exportNodes`` with ``qSlicerNodeWriter::write`` (a copy in a temporary
  scene, its world transform hardened when asked, its default storage node's ``WriteData``).

Qt and ``slicer.app`` themselves still come from fake_slicer.py. Tests skip, saying why, where slicer-core is absent.
"""

from __future__ import annotations

import collections
import importlib
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

import fake_slicer

SKIP_REASON = ("slicer-core is not installed: the tests on Slicer's real MRML classes need it "
               "(pip install -e '.[slicer-core]'; .ci/run installs it)")
# the options qSlicerVolumesReader::load passes to AddArchetypeVolume, one bit per property
ARCHETYPE_OPTIONS = {"labelmap": 0x1, "center": 0x2, "singleFile": 0x4, "autoWindowLevel": 0x8,
                     "discardOrientation": 0x10}


def require_slicer_core() -> types.ModuleType:
    """The real ``slicer`` package of slicer-core, or skip the test."""
    module = sys.modules.get("slicer")
    if module is not None and not hasattr(module, "vtkMRMLScene"):  # a fake still installed: never test on it
        raise RuntimeError("a fake 'slicer' module is in sys.modules; undo fake_slicer.install first")
    try:
        import slicer
    except ImportError:
        pytest.skip(SKIP_REASON)
    if not hasattr(slicer, "vtkMRMLScene"):
        pytest.skip(SKIP_REASON)
    return slicer


class SlicerCore:
    """A scene and the logics a running Slicer would have registered for it."""

    def __init__(self) -> None:
        import slicer
        import vtk

        self.scene = slicer.vtkMRMLScene()
        self.application_logic = slicer.vtkSlicerApplicationLogic()
        self.application_logic.SetMRMLScene(self.scene)
        self.application_logic.GetColorLogic().SetMRMLScene(self.scene)
        self.application_logic.GetColorLogic().AddDefaultColorNodes()
        self.application_logic.SetSliceLogics(vtk.vtkCollection())
        self.application_logic.SetViewLogics(vtk.vtkCollection())
        colors = slicer.vtkMRMLColorLogic()
        colors.SetMRMLApplicationLogic(self.application_logic)
        colors.SetMRMLScene(self.scene)
        self.application_logic.SetModuleLogic("Colors", colors)
        self.logics = {"colors": colors}
        for name, logic_class in (("Volumes", slicer.vtkSlicerVolumesLogic),
                                  ("Segmentations", slicer.vtkSlicerSegmentationsModuleLogic),
                                  ("Plots", slicer.vtkSlicerPlotsLogic)):
            logic = logic_class()
            logic.SetMRMLScene(self.scene)
            logic.SetMRMLApplicationLogic(self.application_logic)
            self.application_logic.SetModuleLogic(name, logic)
            self.logics[name.lower()] = logic
        subject_hierarchy = slicer.vtkSlicerSubjectHierarchyModuleLogic()
        subject_hierarchy.SetMRMLScene(self.scene)
        self.logics["subjecthierarchy"] = subject_hierarchy
        # the layout node and its view nodes, as qMRMLLayoutManager makes them, in Slicer's default layout
        slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(self.scene)
        self.layout_logic = slicer.vtkMRMLLayoutLogic()
        self.layout_logic.SetMRMLScene(self.scene)
        self.layout = self.layout_logic.GetLayoutNode()
        self.layout.SetViewArrangement(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpView)

    def modules(self) -> types.SimpleNamespace:
        """``slicer.modules``: each module with its ``logic()``."""
        return types.SimpleNamespace(**{name: types.SimpleNamespace(logic=lambda logic=logic: logic)
                                        for name, logic in self.logics.items()})

    def load_volume(self, path, properties: dict | None = None):
        """``slicer.util.loadVolume`` as qSlicerVolumesReader::load does it (the selection is not propagated:
        there are no slice views)."""
        properties = dict(properties or {})
        name = properties.get("name", Path(path).name.split(".")[0])  # QFileInfo::baseName
        options = sum(bit for key, bit in ARCHETYPE_OPTIONS.items() if properties.get(key))
        node = self.logics["volumes"].AddArchetypeVolume(str(path), name, options, None)
        if node is None:
            raise RuntimeError(f"Failed to load node from file: {path}")
        return node

    def export_node(self, node, path, properties: dict | None = None, world: bool = False) -> bool:
        """``slicer.util.exportNode`` as qSlicerCoreIOManager::exportNodes does it: the node's scene is never
        touched (no storage node added, no file name changed)."""
        import slicer
        import vtk

        properties = dict(properties or {})
        temporary = slicer.vtkMRMLScene()
        self.scene.CopyDefaultNodesToScene(temporary)
        self.scene.CopyRegisteredNodesToScene(temporary)
        self.scene.CopySingletonNodesToScene(temporary)
        temporary.SetDataIOManager(self.scene.GetDataIOManager())
        copy = temporary.AddNewNodeByClass(node.GetClassName())
        copy.CopyContent(node, world)  # deep when hardening: the original's data must stay as it is
        parent = node.GetParentTransformNode() if world else None
        if parent is not None:
            from_world = vtk.vtkGeneralTransform()
            parent.GetTransformFromWorld(from_world)
            composite = temporary.AddNewNodeByClass("vtkMRMLTransformNode")
            composite.SetAndObserveTransformFromParent(from_world)
            copy.SetAndObserveTransformNodeID(composite.GetID())
            copy.HardenTransform()
        if not copy.AddDefaultStorageNode():
            return False
        storage = copy.GetStorageNode()
        storage.SetFileName(str(path))
        storage.SetURI(None)
        if "useCompression" in properties:
            storage.SetUseCompression(int(properties["useCompression"]))
        return bool(storage.WriteData(copy))


def log_vtk_errors(path: Path) -> None:
    """Copy what Slicer's classes log at warning level and above to ``path`` (they log, they do not raise)."""
    import vtk

    vtk.vtkLogger.LogToFile(str(path), vtk.vtkLogger.TRUNCATE, vtk.vtkLogger.VERBOSITY_WARNING)


def vtk_errors_logged(path: Path) -> list[str]:
    """Stop logging to ``path``; the error lines it holds."""
    import vtk

    vtk.vtkLogger.EndLogToFile(str(path))
    return [line.split("]", 1)[-1].strip() for line in path.read_text(errors="replace").splitlines() if "ERR|" in line]


def install(monkeypatch, tmp_path: Path) -> types.SimpleNamespace:
    """Set ``slicer.app``/``mrmlScene``/``modules`` on the real ``slicer`` package, the I/O above in
    ``slicer.util``, the Qt fakes in ``sys.modules`` (all undone by monkeypatch), and import the Slicer-side files
    afresh; call ``fake_slicer.forget_slicer_side`` afterwards."""
    slicer = require_slicer_core()
    core = SlicerCore()
    qt_side = fake_slicer.qt_and_application(tmp_path)
    for name, module in qt_side.modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(slicer, "app", qt_side.app, raising=False)
    monkeypatch.setattr(slicer, "mrmlScene", core.scene, raising=False)
    monkeypatch.setattr(slicer, "modules", core.modules(), raising=False)
    monkeypatch.setattr(slicer.util, "loadVolume", core.load_volume)
    monkeypatch.setattr(slicer.util, "exportNode", core.export_node)
    fake_slicer.forget_slicer_side()
    modules = {stem: importlib.import_module(f"CTDenoiseSlicerLib.{stem}")
               for stem in ("parameter_node", "slicer_nodes", "logic")}
    return types.SimpleNamespace(slicer=slicer, core=core, scene=core.scene, **modules)


# Scene contents for the tests -----------------------------------------------------------------------------------

def node_counts(scene) -> collections.Counter:
    """How many nodes of each class the scene holds."""
    return collections.Counter(scene.GetNthNode(i).GetClassName() for i in range(scene.GetNumberOfNodes()))


def added_nodes(before: collections.Counter, after: collections.Counter) -> dict[str, int]:
    """Classes whose count changed, with the change (negative: fewer)."""
    return {name: after[name] - before[name] for name in set(before) | set(after) if after[name] != before[name]}


def ijk_to_ras(spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), directions=np.eye(3)) -> np.ndarray:
    """A 4x4 IJK-to-RAS matrix: ``directions`` holds the unit I, J, K axes as columns."""
    matrix = np.eye(4)
    matrix[:3, :3] = np.asarray(directions, float) * np.asarray(spacing, float)
    matrix[:3, 3] = origin
    return matrix


def add_volume(array: np.ndarray, name: str = "chest", ijk_to_ras_matrix: np.ndarray | None = None,
               transform=None, window_level: tuple[float, float] = (1500.0, -500.0)):
    """A scalar volume from a (k, j, i) array, displayed as a loaded CT would be, optionally under a transform."""
    import slicer

    volume = slicer.util.addVolumeFromArray(array, ijk_to_ras_matrix if ijk_to_ras_matrix is not None
                                            else ijk_to_ras(), name)
    volume.CreateDefaultDisplayNodes()
    volume.GetDisplayNode().SetAutoWindowLevel(False)
    volume.GetDisplayNode().SetWindowLevel(*window_level)
    if transform is not None:
        volume.SetAndObserveTransformNodeID(transform.GetID())
    return volume


def add_linear_transform(matrix: np.ndarray, name: str = "registration"):
    import slicer

    node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLinearTransformNode", name)
    node.SetMatrixTransformToParent(slicer.util.vtkMatrixFromArray(matrix))
    return node


def translation(millimetres) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, 3] = millimetres
    return matrix


def add_segment(mask: np.ndarray, volume, segmentation=None, name: str = "nodule") -> tuple[object, str]:
    """A segment holding the voxels of ``mask`` (a (k, j, i) array on ``volume``'s grid), in a new segmentation
    whose geometry is the volume's unless one is given. Returns the segmentation and the segment ID."""
    import slicer

    if segmentation is None:
        segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "nodule segmentation")
        segmentation.CreateDefaultDisplayNodes()
        segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    segment_id = segmentation.GetSegmentation().AddEmptySegment("", name)
    if mask.any():
        slicer.util.updateSegmentBinaryLabelmapFromArray(mask.astype(np.uint8), segmentation, segment_id, volume)
    return segmentation, segment_id


STUB_ENGINE = textwrap.dedent("""
    import json, os, shutil, sys
    source, output = sys.argv[1], sys.argv[2]
    def emit(**event):
        print(json.dumps(event), flush=True)
    emit(event="info", message="precision auto: INT8 on the CPU (this CPU has avx512_vnni)")
    emit(event="info", message="running stunet INT8 on CPU via OpenVINO")
    emit(event="engine", model="stunet", precision="int8", device="cpu", backend="openvino",
         self_ensemble=False, strength=1.0)
    emit(event="info", message="PYTHONUTF8=" + os.environ.get("PYTHONUTF8", ""))
    emit(event="noise", std_hu=72.6, method="MAD of the high-pass residual")
    emit(event="progress", done=1, total=1)
    shutil.copyfile(source, output)  # the input's voxels and header: what the Slicer side must put back
    emit(event="done", output=output, seconds=0.1)
""")


def use_stub_engine(monkeypatch, folder: Path) -> None:
    """Denoise with a stand-in engine that answers at once, copying its input (the real engine's events)."""
    from CTDenoiseSlicerLib import engine_command

    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "stub_engine.py"
    script.write_text(STUB_ENGINE, encoding="utf-8")
    monkeypatch.setattr(engine_command, "denoise_command",
                        lambda python, source, output, options: [sys.executable, str(script), source, output])
