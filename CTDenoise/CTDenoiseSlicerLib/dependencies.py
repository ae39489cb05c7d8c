"""What the engine needs that Slicer does not ship, and how to install it without breaking Slicer.

Slicer bundles NumPy and SimpleITK and its file I/O depends on them, so every pip install is made with a
constraints file that pins the installed versions: pip then keeps them or fails, it never replaces them.
PyTorch comes from the PyTorch extension's ``PyTorchUtils`` when it is there (it picks the CUDA build for the
machine's driver), else from pip.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

# pip requirement per distribution name (as in probe_environment.DISTRIBUTIONS)
# Kept equal to pyproject.toml's dependencies and 'radiomics' extra (a test checks it).
ENGINE_REQUIREMENTS = {"torch": "torch>=2.2", "scipy": "scipy>=1.10", "safetensors": "safetensors>=0.4"}
RADIOMICS_REQUIREMENTS = {"pyradiomics-bhklab": "pyradiomics-bhklab", "matplotlib": "matplotlib>=3.7",
                          "scikit-image": "scikit-image>=0.21"}
PROTECTED = ("numpy", "SimpleITK")  # shipped with Slicer; never replaced
TORCH_VERSION_REQUIREMENT = ">=2.2"


@dataclass(frozen=True)
class Environment:
    """The child probe's answer (``probe_environment.probe()``)."""

    packages: dict[str, str | None]
    cuda: bool = False
    gpus: tuple[str, ...] = ()
    torch_import_error: str | None = None

    @classmethod
    def from_json(cls, text: str) -> "Environment":
        for line in reversed(text.strip().splitlines()):
            if line.startswith("{"):
                data = json.loads(line)
                return cls(dict(data["packages"]), bool(data.get("cuda")), tuple(data.get("gpus") or ()),
                           data.get("torch_import_error"))
        raise ValueError("the environment probe printed no JSON line")


def missing(environment: Environment, radiomics: bool = False) -> list[str]:
    """Distributions to install, engine first; a torch that is installed but fails to import counts too."""
    wanted = dict(ENGINE_REQUIREMENTS)
    if radiomics:
        wanted.update(RADIOMICS_REQUIREMENTS)
    names = [name for name in wanted if not environment.packages.get(name)]
    if environment.torch_import_error and "torch" not in names:
        names.insert(0, "torch")
    return names


@dataclass(frozen=True)
class InstallPlan:
    torch_via_pytorchutils: bool
    pip_requirements: list[str] = field(default_factory=list)  # torch included when PyTorchUtils is absent

    @property
    def empty(self) -> bool:
        return not self.pip_requirements and not self.torch_via_pytorchutils


def plan_install(names: list[str], pytorchutils_available: bool) -> InstallPlan:
    requirements = {**ENGINE_REQUIREMENTS, **RADIOMICS_REQUIREMENTS}
    via_pytorchutils = "torch" in names and pytorchutils_available
    pip = [requirements[name] for name in names if not (name == "torch" and via_pytorchutils)]
    return InstallPlan(via_pytorchutils, pip)


def confirmation_text(plan: InstallPlan) -> str:
    lines = ["CTDenoise needs Python packages that are not installed yet:", ""]
    if plan.torch_via_pytorchutils:
        lines.append("- PyTorch, through the PyTorch extension (it picks the build that matches your GPU driver)")
    lines += [f"- {requirement} (pip)" for requirement in plan.pip_requirements]
    lines += ["", "This downloads up to a few GB (PyTorch) and can take several minutes. Slicer's own NumPy and "
              "SimpleITK are kept as they are.", "", "Install now?"]
    return "\n".join(lines)


def constraints_text(installed: dict[str, str | None]) -> str:
    """Pins for pip's ``-c`` option, so that the install keeps Slicer's NumPy and SimpleITK."""
    return "".join(f"{name}=={installed[name]}\n" for name in PROTECTED if installed.get(name))


def pip_install_args(python: str, requirements: list[str], constraints_path: str) -> list[str]:
    return [python, "-m", "pip", "install", "--disable-pip-version-check", "-c", constraints_path, *requirements]


def restart_needed(installed_names: list[str], loaded_modules: set[str] | dict) -> bool:
    """A restart is needed only when something Slicer has already imported was changed. The engine runs in its
    own process, so a fresh torch or scipy is used at the next run without restarting."""
    import_names = {"pyradiomics-bhklab": "radiomics", "PyWavelets": "pywt"}
    return any(import_names.get(name, name) in loaded_modules for name in installed_names)
