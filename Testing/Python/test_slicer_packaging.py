"""Extension packaging: every file in a module folder is listed in its CMakeLists (and only those), the
extension metadata is complete, and the training module is registered hidden."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULES = ("CTDenoise", "CTDenoiseTraining")


def _cmake_list(text: str, variable: str) -> list[str]:
    match = re.search(rf"set\(\s*{variable}\b(.*?)\)", text, re.S)
    assert match, f"no set({variable} ...)"
    return [item for item in match.group(1).split() if not item.startswith("#")]


def _files_on_disk(module: str) -> set[str]:
    """Files git would ship (tracked or not ignored); a build's __pycache__ and ignored outputs don't count."""
    root = REPO / module
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", module],
                                cwd=REPO, capture_output=True, text=True, check=True).stdout.split("\n")
        paths = {Path(line).relative_to(module).as_posix() for line in listed if line}
        paths = {p for p in paths if (root / p).is_file()}  # deleted but still in the index
    except (OSError, subprocess.CalledProcessError):
        paths = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    return {p for p in paths if "__pycache__" not in p and not p.endswith(".pyc") and p != "CMakeLists.txt"
            and not p.startswith(("Testing/", "runs/"))}  # runs/: committed training state, never shipped


@pytest.mark.parametrize("module", MODULES)
def test_cmake_lists_name_exactly_the_files_in_the_module_folder(module: str) -> None:
    text = (REPO / module / "CMakeLists.txt").read_text()
    scripts = _cmake_list(text, "MODULE_PYTHON_SCRIPTS")
    resources = _cmake_list(text, "MODULE_PYTHON_RESOURCES")
    assert "*" not in text, "use explicit lists, not globs"
    listed = [item.replace("${MODULE_NAME}", module) for item in scripts + resources]
    assert len(listed) == len(set(listed)), "a file is listed twice"
    assert all(item.endswith(".py") for item in scripts) and not any(item.endswith(".py") for item in resources)
    on_disk = _files_on_disk(module)
    missing = sorted(on_disk - set(listed))
    extra = sorted(set(listed) - on_disk)
    assert not missing, f"add to {module}/CMakeLists.txt: {missing}"
    assert not extra, f"listed in {module}/CMakeLists.txt but not in the folder: {extra}"
    assert f"{module}.py" in scripts
    assert "NAME ${MODULE_NAME}" in text and f"set(MODULE_NAME {module})" in text


def test_extension_metadata() -> None:
    text = (REPO / "CMakeLists.txt").read_text()
    for key in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS"):
        value = re.search(rf'set\(EXTENSION_{key} "([^"]+)"\)', text)
        assert value and value.group(1).strip(), f"EXTENSION_{key} is empty"
    assert re.search(r"set\(EXTENSION_DEPENDS\s+PyTorch\)", text)
    for module in MODULES:
        assert f"add_subdirectory({module})" in text
    for url_key in ("ICONURL", "SCREENSHOTURLS"):
        url = re.search(rf'set\(EXTENSION_{url_key} "([^"]+)"\)', text).group(1)
        local = url.split("/main/", 1)[1]
        assert (REPO / local).is_file(), f"{url_key} points at {local}, which is not in the repository"


def test_module_icon_and_ui_exist() -> None:
    assert (REPO / "CTDenoise/Resources/Icons/CTDenoise.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (REPO / "CTDenoise/Resources/UI/CTDenoise.ui").is_file()


def test_training_module_is_registered_hidden() -> None:
    tree = ast.parse((REPO / "CTDenoiseTraining/CTDenoiseTraining.py").read_text())
    hidden = [node for node in ast.walk(tree) if isinstance(node, ast.Assign)
              and ast.unparse(node.targets[0]) == "self.parent.hidden" and ast.unparse(node.value) == "True"]
    assert hidden
    assert "ctdenoise train" in ast.get_docstring(tree)


def test_no_package_named_testing_and_unique_library_names() -> None:
    assert not (REPO / "Testing" / "__init__.py").exists() and not (REPO / "Testing/Python/__init__.py").exists()
    packages = [p.parent.name for module in MODULES for p in (REPO / module).glob("*/__init__.py")]
    assert len(packages) == len(set(packages)) and all(name.startswith(("CTDenoise",)) for name in packages)


@pytest.mark.parametrize("module", MODULES)
def test_every_module_has_the_test_class_slicers_self_tests_look_up(module: str) -> None:
    """'Run all self-tests' calls <Module>Test for every module, hidden ones too; a missing class is a failure."""
    tree = ast.parse((REPO / module / f"{module}.py").read_text())
    names = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    names |= {alias.asname or alias.name for node in tree.body if isinstance(node, ast.ImportFrom)
              for alias in node.names}
    assert f"{module}Test" in names
    text = (REPO / module / "CMakeLists.txt").read_text()
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in text and "WITH_GENERIC_TESTS" in text
