"""The module file and its helpers, checked without Slicer: Python 3.12 syntax, nothing heavy imported at
module load, and the plain-Python helpers free of any Slicer import."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULE_DIR = REPO / "CTDenoise"
LIB = MODULE_DIR / "CTDenoiseSlicerLib"
SLICER_FILES = [MODULE_DIR / "CTDenoise.py", REPO / "CTDenoiseTraining" / "CTDenoiseTraining.py",
                *sorted(LIB.glob("*.py"))]
HEAVY = {"torch", "numpy", "SimpleITK", "scipy", "radiomics", "CTDenoiseLib", "CTDenoiseTrainingLib", "pandas",
         "sitkUtils"}
SLICER_API = {"slicer", "qt", "ctk", "vtk", "SampleData", "PyTorchUtils", "__main__"}
USES_SLICER = {"parameter_node", "logic", "widget", "slicer_nodes", "self_test", "sample_data"}


def _python312() -> str | None:
    """A working Python 3.12 (pyenv shims can exist without one behind them)."""
    candidates = [os.environ.get("CTDENOISE_PYTHON312"), str(Path.home() / ".pyenv/versions/3.12.1/bin/python3.12"),
                  shutil.which("python3.12")]
    if sys.version_info[:2] == (3, 12):
        return sys.executable
    for candidate in filter(None, candidates):
        try:
            version = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                                     capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            continue
        if version == "(3, 12)":
            return candidate
    return None


def test_files_byte_compile_on_python_312(tmp_path: Path) -> None:
    python = _python312()
    if python is None:
        pytest.skip("no Python 3.12 found (set CTDENOISE_PYTHON312 to one); Slicer 5.10+ ships 3.12")
    code = ("import py_compile, sys\n"
            "for path in sys.argv[1:]:\n"
            "    py_compile.compile(path, cfile=sys.argv[0] + '.pyc', doraise=True)\n")
    script = tmp_path / "compile_all.py"
    script.write_text(code)
    completed = subprocess.run([python, str(script), *map(str, SLICER_FILES)], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


def _module_level_imports(path: Path) -> set[str]:
    """Top-level package names imported when the file is loaded (not those inside functions)."""
    names = set()
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: a sibling helper module
                names |= {f"CTDenoiseSlicerLib.{node.module or alias.name}" for alias in node.names}
            else:
                names.add(node.module)
    return names


def _loaded_at_import(path: Path, seen: set[Path] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    if path in seen:
        return set()
    seen.add(path)
    found = set()
    for name in _module_level_imports(path):
        if name.startswith("CTDenoiseSlicerLib."):
            helper = LIB / (name.split(".")[1] + ".py")
            if helper.is_file():
                found |= _loaded_at_import(helper, seen)
            continue
        found.add(name.split(".")[0])
    return found


def test_loading_the_module_imports_nothing_heavy() -> None:
    loaded = _loaded_at_import(MODULE_DIR / "CTDenoise.py")
    assert "slicer" in loaded  # sanity: the walk follows the imports
    assert not loaded & HEAVY, f"heavy imports at module load: {sorted(loaded & HEAVY)}"


def test_plain_helpers_never_import_slicer() -> None:
    for path in sorted(LIB.glob("*.py")):
        if path.stem in USES_SLICER:
            continue
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                imported.add(node.module.split(".")[0])
        assert not imported & (SLICER_API | HEAVY - {"torch"}), f"{path.name} imports {imported & SLICER_API}"


def test_module_classes_are_reachable_by_name() -> None:
    """Slicer looks up CTDenoiseWidget, CTDenoiseLogic and CTDenoiseTest in the module file by name."""
    tree = ast.parse((MODULE_DIR / "CTDenoise.py").read_text())
    names = {alias.asname or alias.name for node in tree.body if isinstance(node, ast.ImportFrom)
             for alias in node.names}
    names |= {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    assert {"CTDenoise", "CTDenoiseWidget", "CTDenoiseLogic", "CTDenoiseTest"} <= names
    defined = {p.stem: {n.name for n in ast.parse(p.read_text()).body if isinstance(n, ast.ClassDef)}
               for p in LIB.glob("*.py")}
    assert "CTDenoiseWidget" in defined["widget"] and "CTDenoiseLogic" in defined["logic"]
    assert "CTDenoiseTest" in defined["self_test"] and "CTDenoiseParameterNode" in defined["parameter_node"]
