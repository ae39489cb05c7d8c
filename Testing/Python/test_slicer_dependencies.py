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


def test_probe_reports_the_cpus_int8_instructions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    assert probe.cpu_int8_flags(cpuinfo) == ["avx512_vnni"]
    cpuinfo.write_text("flags\t\t: fpu sse2 avx2\n")
    assert probe.cpu_int8_flags(cpuinfo) == []
    assert probe.cpu_int8_flags(tmp_path / "absent") is None  # macOS, Windows: PyTorch is asked instead
    monkeypatch.setattr(probe, "cpu_int8_flags", lambda: None)
    monkeypatch.setattr(probe, "torch_int8_flags", lambda: ["avx512_vnni"])
    assert probe.probe()["int8_cpu_flags"] == ["avx512_vnni"]
    line = '{"packages": {"openvino": "2026.4.1"}, "int8_cpu_flags": ["amx_int8"]}'
    environment = deps.Environment.from_json(line)
    assert environment.openvino and environment.int8_cpu_flags == ("amx_int8",)


def test_missing_counts_a_broken_torch() -> None:
    env = deps.Environment({"torch": None, "scipy": "1.13", "safetensors": "0.4", "openvino": "2026.4",
                            "pyradiomics-bhklab": None, "matplotlib": "3.9", "scikit-image": "0.24"})
    assert deps.missing(env) == ["torch"]
    assert deps.missing(env, radiomics=True) == ["torch", "pyradiomics-bhklab"]
    broken = deps.Environment({"torch": "2.4", "scipy": "1.13", "safetensors": "0.4", "openvino": "2026.4"},
                              torch_import_error="OSError: libcudnn missing")
    assert deps.missing(broken) == ["torch"]
    no_int8 = deps.Environment({"torch": "2.4", "scipy": "1.13", "safetensors": "0.4"})
    assert deps.missing(no_int8) == ["openvino"]  # the fast CPU path is part of the engine's install


def test_the_pytorch_extension_is_found_by_importing_pytorchutils() -> None:
    imported = []

    def present(name):
        imported.append(name)

    def absent(name):
        raise ModuleNotFoundError(f"No module named '{name}'")

    assert deps.pytorchutils_available(present) and imported == ["PyTorchUtils"]
    assert not deps.pytorchutils_available(absent)
    assert not deps.pytorchutils_available()  # not inside Slicer


def test_plan_installs_torch_with_light_the_torch_when_the_pytorch_extension_is_there() -> None:
    plan = deps.plan_install(["torch", "scipy", "openvino"], pytorchutils_available=True)
    assert plan.torch_via_light_the_torch and plan.pip_requirements == ["scipy>=1.10", "openvino>=2026.0"]
    commands = deps.install_commands(plan, "PythonSlicer", "/t/c.txt")
    assert commands[0] == deps.pip_install_args("PythonSlicer", ["scipy>=1.10", "openvino>=2026.0"], "/t/c.txt")
    assert commands[1] == deps.pip_install_args("PythonSlicer", ["light-the-torch>=0.5"], "/t/c.txt")
    assert commands[2][:4] == ["PythonSlicer", "-m", "light_the_torch", "install"]
    assert commands[2][-1] == "torch>=2.2" and commands[2][commands[2].index("-c") + 1] == "/t/c.txt"
    assert plan.distributions == ["scipy", "openvino", "light-the-torch", "torch"]
    plan = deps.plan_install(["torch", "pyradiomics-bhklab"], pytorchutils_available=False)
    assert not plan.torch_via_light_the_torch and plan.pip_requirements == ["torch>=2.2", "pyradiomics-bhklab"]
    assert len(deps.install_commands(plan, "py", "c")) == 1
    assert deps.plan_install([], True).empty and deps.install_commands(deps.plan_install([], True), "py", "c") == []
    text = deps.confirmation_text(plan)
    assert "torch>=2.2" in text and "NumPy and SimpleITK are kept" in text


def test_pip_never_replaces_slicers_numpy_or_simpleitk(tmp_path: Path) -> None:
    constraints = deps.constraints_text({"numpy": "1.26.4", "SimpleITK": "2.4.0", "torch": "2.5"})
    assert constraints == "numpy==1.26.4\nSimpleITK==2.4.0\n"
    assert deps.constraints_text({"numpy": "2.1", "pydicom": "2.4.4"}) == "numpy==2.1\npydicom==2.4.4\n"
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
    assert deps.restart_needed(["scikit-image"], {"skimage"})  # the distribution is not the import name
    assert not deps.restart_needed(["scikit-image", "openvino"], {"numpy"})


def test_requirements_match_pyproject() -> None:
    tomllib = pytest.importorskip("tomllib", reason="needs Python 3.11+")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    def names(requirements):
        return {re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0] for r in requirements}
    extras = project["optional-dependencies"]
    base = (names(project["dependencies"]) | names(extras.get("int8", []))) - set(deps.PROTECTED)
    wanted = names(project["dependencies"] + extras.get("int8", []) + extras["radiomics"]) - set(deps.PROTECTED)
    slicer = set(deps.ENGINE_REQUIREMENTS) | set(deps.RADIOMICS_REQUIREMENTS)
    assert slicer <= wanted and wanted - slicer <= set(deps.NOT_NEEDED_IN_SLICER), (
        "the module installs the engine, its INT8 runtime and the radiomics extra: update dependencies.py")
    assert set(deps.ENGINE_REQUIREMENTS) <= base and {"torch", "openvino"} <= set(deps.ENGINE_REQUIREMENTS)
    assert slicer <= set(probe.DISTRIBUTIONS)
