"""The engine's folders follow the data path, and the dependencies between them go one way: the engine never
imports the training package (its command line registers the training commands only when they are installed),
and what argument parsers import stays free of torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / "CTDenoise" / "CTDenoiseLib"
SUBPACKAGES = ("commands", "io", "models", "noise", "runtime", "inference", "simulation", "evaluation", "radiomics",
               "benchmark")

# Run with CTDenoiseTrainingLib made unimportable, as in an install without the training package.
WITHOUT_TRAINING = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "CTDenoiseTrainingLib":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
sys.argv[0] = "ctdenoise"
from CTDenoiseLib.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module)
    return names


def test_engine_top_level_holds_only_the_entry_point_and_shared_vocabulary() -> None:
    modules = sorted(path.name for path in ENGINE.glob("*.py"))
    assert modules == ["__init__.py", "__main__.py", "cli.py", "errors.py", "events.py", "hu.py", "progress.py",
                       "vocabulary.py"]
    for name in SUBPACKAGES:
        assert (ENGINE / name / "__init__.py").is_file(), f"{name}/ is not a package"


def test_engine_never_imports_training_code() -> None:
    offenders = [f"{path.relative_to(REPO)}: {name}" for path in sorted(ENGINE.rglob("*.py"))
                 for name in _imported_modules(path) if name.split(".")[0] == "CTDenoiseTrainingLib"]
    assert not offenders, f"the engine imports training code: {offenders}"


def test_cli_without_the_training_package_lacks_only_the_training_commands() -> None:
    result = subprocess.run([sys.executable, "-c", WITHOUT_TRAINING, "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "denoise" in result.stdout and "train" not in result.stdout.replace("trained", "")
    result = subprocess.run([sys.executable, "-c", WITHOUT_TRAINING, "train", "--help"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "invalid choice: 'train'" in result.stderr


def test_building_the_parser_imports_no_torch() -> None:
    code = ("import sys; from CTDenoiseLib.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'numpy', 'SimpleITK') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
