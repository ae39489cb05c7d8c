"""The fakes against Slicer's real classes (slicer-core): every method and constant fake_slicer.py implements
exists on the class it stands for, with Slicer's value; the engine's Python in a process that imported slicer-core;
the module's code never needs slicer-core. The slicer-core parts skip, with the reason, where it is absent."""

from __future__ import annotations

import inspect
import os
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "CTDenoise"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from CTDenoiseSlicerLib import engine_command  # noqa: E402

import fake_slicer  # noqa: E402
from slicer_core_harness import require_slicer_core  # noqa: E402


def _public_methods(cls) -> list[str]:
    """The methods named as Slicer's (capitalised); lower-case ones are the tests' own helpers."""
    return [name for name, value in vars(cls).items() if callable(value) and name[:1].isupper()]


@pytest.mark.parametrize("fake", [fake_slicer.FakeNode, fake_slicer.FakeImage, fake_slicer.FakeScene])
def test_every_method_of_a_fake_exists_on_the_real_class(fake) -> None:
    slicer = require_slicer_core()
    import vtk

    real = [getattr(slicer, name, None) or getattr(vtk, name) for name in fake.STANDS_FOR]
    missing = [name for name in _public_methods(fake) if not any(hasattr(cls, name) for cls in real)]
    assert _public_methods(fake), "no method found: is the fake still read?"
    assert not missing, f"{fake.__name__} implements {missing}, which {fake.STANDS_FOR} do not have"


def test_the_fakes_constants_and_helpers_are_slicers(monkeypatch, tmp_path) -> None:
    slicer = require_slicer_core()
    import vtk

    fake = fake_slicer.install(monkeypatch, tmp_path)
    fake_util, fake_vtk = sys.modules["slicer"].util, sys.modules["vtk"]
    monkeypatch.undo()
    fake_slicer.forget_slicer_side()
    assert (fake.scene.StartCloseEvent, fake.scene.EndCloseEvent) == (slicer.vtkMRMLScene.StartCloseEvent,
                                                                       slicer.vtkMRMLScene.EndCloseEvent)
    assert fake_vtk.vtkCommand.ModifiedEvent == vtk.vtkCommand.ModifiedEvent
    for name, function in vars(fake_util).items():
        assert hasattr(slicer.util, name), f"slicer.util has no {name}"
        if inspect.isfunction(function) and inspect.isfunction(getattr(slicer.util, name)):
            real_parameters = list(inspect.signature(getattr(slicer.util, name)).parameters)
            fake_parameters = [p for p in inspect.signature(function).parameters if p not in ("args", "kwargs")]
            assert fake_parameters == real_parameters[:len(fake_parameters)], name
    missing = [name for name in _public_methods(fake_slicer._Mixin) + ["addObserver", "removeObserver",
                                                                        "removeObservers"]
               if not hasattr(slicer.util.VTKObservationMixin, name)]
    assert not missing


def test_the_engine_runs_on_this_python_in_a_process_that_imported_slicer_core() -> None:
    """slicer-core's ``slicer`` is not the application: no PythonSlicer exists beside this interpreter."""
    slicer = require_slicer_core()
    assert getattr(slicer, "app", None) is None
    python = engine_command.python_executable()
    assert python == sys.executable and os.path.exists(python)


def test_the_module_never_needs_slicer_core() -> None:
    """slicer-core is a test extra: Slicer ships its own MRML, and the module imports nothing of the wheel's."""
    files = [*sorted((REPO / "CTDenoise").rglob("*.py")), *sorted((REPO / "CTDenoiseTraining").rglob("*.py"))]
    assert len(files) > 20
    importing = [str(path.relative_to(REPO)) for path in files
                 if re.search(r"^\s*(from|import)\s+slicer_core\b", path.read_text(encoding="utf-8"), re.MULTILINE)]
    assert not importing
    tomllib = pytest.importorskip("tomllib", reason="tomllib (reading pyproject.toml) is Python 3.11+")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not [d for d in project["dependencies"] if d.lower().startswith("slicer")]
    assert any(d.startswith("slicer-core") for d in project["optional-dependencies"]["slicer-core"])
