"""The engine (CTDenoiseLib) and the training package (CTDenoiseTrainingLib) are houses of layers: no import circle
anywhere in them, and no arrow from a lower layer to a higher one. Every import counts, also those inside a
function or under ``TYPE_CHECKING`` (an import moved into a function hides a circle, it does not remove it).

The layers are data, lowest first; a module belongs to the layer of the longest name in it that is the module or
one of its parent packages (``recipes.options`` is not ``recipes``), and the two package roots (their
``__init__``) are named alone. The training package is one floor above the whole engine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {"CTDenoiseLib": REPO / "CTDenoise" / "CTDenoiseLib",
            "CTDenoiseTrainingLib": REPO / "CTDenoiseTraining" / "CTDenoiseTrainingLib"}

ENGINE_LAYERS = (
    ("words", ("CTDenoiseLib", "errors", "vocabulary", "events")),
    ("input", ("hu", "io", "noise", "progress")),
    ("figures", ("figures", "figures.png", "figures.slice_panels", "figures.preview")),
    ("networks and simulation", ("models", "simulation")),
    ("runtime", ("runtime",)),
    ("inference", ("inference",)),
    ("studies", ("evaluation", "radiomics", "benchmark", "figures.comparison")),
    ("command line", ("commands", "cli", "__main__")),
)
TRAINING_LAYERS = (
    ("configuration", ("CTDenoiseTrainingLib", "config_options", "config", "recipes", "recipes.options",
                       "recipes.activation_map_options")),
    ("parts", ("distributed", "checkpoint", "reporting", "sources", "prepare", "patches", "losses", "grow", "export",
               "optimisation", "validation", "resume", "run_folder", "fine_tune", "running_loss", "recipes.protocol",
               "recipes.collective", "recipes.cycle_networks", "recipes.cycle_step", "recipes.divergence",
               "recipes.feature_space", "recipes.feature_taps", "recipes.samples", "recipes.teacher",
               "recipes.unpaired_data", "recipes.lesion_classifier", "recipes.lesion_patches",
               "recipes.lesion_classifier_fit")),
    ("recipes", ("recipes.paired", "recipes.teacher_student", "recipes.activation_map", "recipes.unpaired",
                 "recipes.dispatch")),
    ("loop", ("loop",)),
    ("entry points", ("train", "benchmark", "export_checkpoint")),
    ("command line", ("commands",)),
)


def _qualified(package: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name if name == package else f"{package}.{name}" for name in names)


LAYERS = tuple((f"engine: {name}", _qualified("CTDenoiseLib", names)) for name, names in ENGINE_LAYERS) + tuple(
    (f"training: {name}", _qualified("CTDenoiseTrainingLib", names)) for name, names in TRAINING_LAYERS)


def module_files() -> dict[str, Path]:
    """Every module of both packages by dotted name (a package by its ``__init__``)."""
    modules = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``module`` imports anywhere in its file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    return {module: _imported(module, path, set(files)) for module, path in files.items()}


def layer_of(module: str) -> int:
    """The index of the module's layer in ``LAYERS``; -1 when no layer names it."""
    best, best_length = -1, -1
    for index, (_, names) in enumerate(LAYERS):
        for name in names:
            root = name in PACKAGES
            if module == name or (not root and module.startswith(name + ".")):
                if len(name) > best_length:
                    best, best_length = index, len(name)
    return best


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def upward_arrows(graph: dict[str, set[str]]) -> list[str]:
    """The imports whose target lies in a higher layer than their source (modules without a layer left out:
    ``test_every_module_has_a_layer`` names them)."""
    return [f"{source} ({LAYERS[layer_of(source)][0]}) -> {target} ({LAYERS[layer_of(target)][0]})"
            for source, targets in sorted(graph.items()) for target in sorted(targets)
            if min(layer_of(source), layer_of(target)) >= 0 and layer_of(target) > layer_of(source)]


def test_every_module_has_a_layer() -> None:
    unplaced = [module for module in module_files() if layer_of(module) < 0]
    assert not unplaced, f"add these modules to a layer of ENGINE_LAYERS or TRAINING_LAYERS: {unplaced}"


def test_no_import_circle_in_the_engine_or_the_training_package() -> None:
    found = circles(import_graph())
    assert not found, f"import circles (imports inside functions count): {found}"


def test_no_import_goes_up_a_layer() -> None:
    found = upward_arrows(import_graph())
    assert not found, "imports from a lower layer to a higher one:\n" + "\n".join(found)


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set(), "c": {"a", "b"}}, []),
])
def test_the_circle_finder_finds_circles_and_only_them(graph: dict, expected: list) -> None:
    assert circles(graph) == expected


def test_the_layers_catch_a_lower_module_importing_a_higher_one() -> None:
    assert upward_arrows({"CTDenoiseLib.models.files": {"CTDenoiseLib.inference.pipeline"}}) == [
        "CTDenoiseLib.models.files (engine: networks and simulation) -> CTDenoiseLib.inference.pipeline "
        "(engine: inference)"]
    assert upward_arrows({"CTDenoiseLib.models.files": {"CTDenoiseTrainingLib.loop"}})  # the engine under training
    assert not upward_arrows({"CTDenoiseTrainingLib.loop": {"CTDenoiseLib.models"}})
    assert layer_of("CTDenoiseTrainingLib.recipes.options") < layer_of("CTDenoiseTrainingLib.recipes.unpaired")
