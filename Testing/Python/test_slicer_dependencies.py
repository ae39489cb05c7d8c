"""Dependency detection in a child process and the install plan that keeps Slicer's NumPy and SimpleITK."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "CTDenoise"))

from CTDenoiseSlicerLib import dependencies as deps  # noqa: E402
from CTDenoiseSlicerLib import probe_environment as probe  # noqa: E402
from CTDenoiseSlicerLib.engine_command import engine_dir  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def test_probe_runs_as_a_child_and_reports_this_environment() -> None:
    completed = subprocess.run([sys.executable, "-m", "CTDenoiseSlicerLib.probe_environment"], cwd=engine_dir(),
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    environment = deps.Environment.from_json(completed.stdout)
    assert environment.packages["numpy"] and environment.packages["torch"]
    assert environment.torch_import_error is None
    assert environment.cuda is False or environment.gpus  # this venv is CPU-only torch
    assert "torch" not in deps.missing(environment)


def test_missing_counts_a_broken_torch() -> None:
    env = deps.Environment({"torch": None, "scipy": "1.13", "safetensors": "0.4", "pyradiomics-bhklab": None,
                            "matplotlib": "3.9", "scikit-image": "0.24"})
    assert deps.missing(env) == ["torch"]
    assert deps.missing(env, radiomics=True) == ["torch", "pyradiomics-bhklab"]
    broken = deps.Environment({"torch": "2.4", "scipy": "1.13", "safetensors": "0.4"},
                              torch_import_error="OSError: libcudnn missing")
    assert deps.missing(broken) == ["torch"]


def test_plan_uses_pytorchutils_for_torch_when_present() -> None:
    plan = deps.plan_install(["torch", "scipy"], pytorchutils_available=True)
    assert plan.torch_via_pytorchutils and plan.pip_requirements == ["scipy>=1.10"]
    plan = deps.plan_install(["torch", "pyradiomics-bhklab"], pytorchutils_available=False)
    assert not plan.torch_via_pytorchutils and plan.pip_requirements == ["torch>=2.2", "pyradiomics-bhklab"]
    assert deps.plan_install([], True).empty
    text = deps.confirmation_text(plan)
    assert "torch>=2.2" in text and "NumPy and SimpleITK are kept" in text


def test_pip_never_replaces_slicers_numpy_or_simpleitk(tmp_path: Path) -> None:
    constraints = deps.constraints_text({"numpy": "1.26.4", "SimpleITK": "2.4.0", "torch": "2.5"})
    assert constraints == "numpy==1.26.4\nSimpleITK==2.4.0\n"
    args = deps.pip_install_args("PythonSlicer", ["scipy>=1.10"], str(tmp_path / "c.txt"))
    assert args[:3] == ["PythonSlicer", "-m", "pip"] and args[args.index("-c") + 1] == str(tmp_path / "c.txt")
    assert not any(a.lower().startswith(("numpy", "simpleitk")) for a in args)


def test_pip_honours_the_constraints_file(tmp_path: Path) -> None:
    """pip itself refuses to move a pinned package (dry run, no download: the pin conflicts at resolution)."""
    installed = deps.Environment.from_json(subprocess.run(
        [sys.executable, "-m", "CTDenoiseSlicerLib.probe_environment"], cwd=engine_dir(), capture_output=True,
        text=True, timeout=60).stdout).packages
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(deps.constraints_text(installed))
    args = deps.pip_install_args(sys.executable, [f"numpy!={installed['numpy']}", "--dry-run", "--no-index"],
                                 str(constraints))
    completed = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert completed.returncode != 0
    assert "numpy" in completed.stdout + completed.stderr


def test_restart_only_when_a_loaded_module_changed() -> None:
    assert not deps.restart_needed(["torch", "scipy"], {"numpy", "SimpleITK", "vtk"})
    assert deps.restart_needed(["scipy"], {"scipy"})
    assert deps.restart_needed(["pyradiomics-bhklab"], {"radiomics"})


def test_requirements_match_pyproject() -> None:
    tomllib = pytest.importorskip("tomllib", reason="needs Python 3.11+")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    def names(requirements):
        return {re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0] for r in requirements}
    engine = names(project["dependencies"]) - set(deps.PROTECTED)
    assert engine == set(deps.ENGINE_REQUIREMENTS), "update ENGINE_REQUIREMENTS in dependencies.py"
    assert names(project["optional-dependencies"]["radiomics"]) == set(deps.RADIOMICS_REQUIREMENTS)
    assert set(deps.ENGINE_REQUIREMENTS) | set(deps.RADIOMICS_REQUIREMENTS) <= set(probe.DISTRIBUTIONS)
