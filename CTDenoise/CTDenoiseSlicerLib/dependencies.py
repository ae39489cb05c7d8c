"""What the engine needs that Slicer does not ship, and how to install it without breaking Slicer.

Slicer bundles NumPy and SimpleITK and its file I/O depends on them, so every pip install is made with a
constraints file that pins the installed versions: pip then keeps them or fails, it never replaces them.
PyTorch is installed with light-the-torch (the tool the PyTorch extension's ``PyTorchUtils`` uses to pick the
CUDA build for the machine's driver) when that extension is installed, else with plain pip. Every step runs as
a background process; nothing here blocks Slicer's GUI.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from typing import Callable

# pip requirement per distribution name (as in probe_environment.DISTRIBUTIONS). Kept equal to pyproject.toml's
# dependencies (with the OpenVINO runtime: INT8 and fast FP32 on the CPU) and its 'radiomics' extra, less
# PROTECTED and NOT_NEEDED_IN_SLICER; a test checks it.
ENGINE_REQUIREMENTS = {"torch": "torch>=2.2", "scipy": "scipy>=1.10", "safetensors": "safetensors>=0.4",
                       "openvino": "openvino>=2026.0"}
RADIOMICS_REQUIREMENTS = {"pyradiomics-bhklab": "pyradiomics-bhklab", "matplotlib": "matplotlib>=3.7",
                          "scikit-image": "scikit-image>=0.21"}
PROTECTED = ("numpy", "SimpleITK", "pydicom")  # shipped with Slicer (its DICOM module uses pydicom); never replaced
# Engine dependencies the module does not install, with why: the module hands the engine NRRD files only.
NOT_NEEDED_IN_SLICER = {"pydicom": "DICOM output; Slicer ships its own pydicom, which is kept",
                        "pynetdicom": "sending to a PACS from the command line"}
TORCH_VERSION_REQUIREMENT = ">=2.2"
LIGHT_THE_TORCH = "light-the-torch>=0.5"  # what PyTorchUtils installs to choose the CUDA build
# Distribution name -> the top-level module Python imports, where they differ.
IMPORT_NAMES = {"pyradiomics-bhklab": "radiomics", "scikit-image": "skimage", "PyWavelets": "pywt",
                "light-the-torch": "light_the_torch"}


@dataclass(frozen=True)
class Environment:
    """The child probe's answer (``probe_environment.probe()``)."""

    packages: dict[str, str | None]
    cuda: bool = False
    gpus: tuple[str, ...] = ()
    torch_import_error: str | None = None
    int8_cpu_flags: tuple[str, ...] = ()  # the CPU's INT8 dot-product instructions (VNNI, AMX)

    @property
    def openvino(self) -> bool:
        """The OpenVINO runtime is installed: INT8 (and OpenVINO FP32) can run on the CPU."""
        return bool(self.packages.get("openvino"))

    @classmethod
    def from_json(cls, text: str) -> "Environment":
        for line in reversed(text.strip().splitlines()):
            if line.startswith("{"):
                data = json.loads(line)
                return cls(dict(data["packages"]), bool(data.get("cuda")), tuple(data.get("gpus") or ()),
                           data.get("torch_import_error"), tuple(data.get("int8_cpu_flags") or ()))
        raise ValueError("the environment probe printed no JSON line")


def missing(environment: Environment, radiomics: bool = False) -> list[str]:
    """Distributions to install, engine first; a torch that is installed but fails to import counts too.

    Args:
        environment: what the probe found.
        radiomics: include the radiomics panel's packages.
    """
    wanted = dict(ENGINE_REQUIREMENTS)
    if radiomics:
        wanted.update(RADIOMICS_REQUIREMENTS)
    names = [name for name in wanted if not environment.packages.get(name)]
    if environment.torch_import_error and "torch" not in names:
        names.insert(0, "torch")
    return names


def pytorchutils_available(import_module: Callable[[str], object] = importlib.import_module) -> bool:
    """Whether the PyTorch extension is installed, found the way other extensions do: by importing its
    ``PyTorchUtils`` module (the module's attribute in ``slicer.modules`` is ``pytorchutils``, not ``pytorch``).

    Args:
        import_module: injected for tests.
    """
    try:
        import_module("PyTorchUtils")
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class InstallPlan:
    torch_via_light_the_torch: bool
    pip_requirements: list[str] = field(default_factory=list)  # torch included when light-the-torch is not used

    @property
    def empty(self) -> bool:
        return not self.pip_requirements and not self.torch_via_light_the_torch

    @property
    def distributions(self) -> list[str]:
        """The distribution names the plan installs or changes (to decide whether Slicer must restart)."""
        names = [_distribution(requirement) for requirement in self.pip_requirements]
        if self.torch_via_light_the_torch:
            names += ["light-the-torch", "torch"]
        return names


def _distribution(requirement: str) -> str:
    for separator in "<>=!~[; ":
        requirement = requirement.split(separator)[0]
    return requirement


def plan_install(names: list[str], pytorchutils_available: bool) -> InstallPlan:
    """Args:
        names: distributions to install (``missing()``'s answer).
        pytorchutils_available: the PyTorch extension is installed, so torch goes through light-the-torch.
    """
    requirements = {**ENGINE_REQUIREMENTS, **RADIOMICS_REQUIREMENTS}
    via_ltt = "torch" in names and pytorchutils_available
    pip = [requirements[name] for name in names if not (name == "torch" and via_ltt)]
    return InstallPlan(via_ltt, pip)


def install_commands(plan: InstallPlan, python: str, constraints_path: str) -> list[list[str]]:
    """The background commands of a plan, in order; each runs only if the one before succeeded.

    Args:
        plan: what to install.
        python: Slicer's Python (``PythonSlicer``).
        constraints_path: pip constraints file pinning Slicer's NumPy and SimpleITK.
    """
    commands = []
    if plan.pip_requirements:
        commands.append(pip_install_args(python, plan.pip_requirements, constraints_path))
    if plan.torch_via_light_the_torch:
        commands.append(pip_install_args(python, [LIGHT_THE_TORCH], constraints_path))
        # 'ltt install' takes pip's options and picks the torch build for the installed NVIDIA driver
        commands.append([python, "-m", "light_the_torch", "install", "--disable-pip-version-check",
                         "-c", constraints_path, "torch" + TORCH_VERSION_REQUIREMENT])
    return commands


def confirmation_text(plan: InstallPlan) -> str:
    lines = ["CTDenoise needs Python packages that are not installed yet:", ""]
    if plan.torch_via_light_the_torch:
        lines.append("- PyTorch, with light-the-torch as the PyTorch extension does (it picks the build that matches "
                     "your GPU driver)")
    lines += [f"- {requirement} (pip)" for requirement in plan.pip_requirements]
    lines += ["", "This downloads up to a few GB (PyTorch) and can take several minutes; Slicer stays usable "
              "meanwhile. Slicer's own NumPy and SimpleITK are kept as they are.", "", "Install now?"]
    return "\n".join(lines)


def constraints_text(installed: dict[str, str | None]) -> str:
    """Pins for pip's ``-c`` option, so that the install keeps Slicer's NumPy and SimpleITK."""
    return "".join(f"{name}=={installed[name]}\n" for name in PROTECTED if installed.get(name))


def pip_install_args(python: str, requirements: list[str], constraints_path: str) -> list[str]:
    return [python, "-m", "pip", "install", "--disable-pip-version-check", "-c", constraints_path, *requirements]


def restart_needed(installed_names: list[str], loaded_modules: set[str] | dict) -> bool:
    """A restart is needed only when something Slicer has already imported was changed. The engine runs in its
    own process, so a fresh torch or scipy is used at the next run without restarting.

    Args:
        installed_names: distribution names that were installed or upgraded.
        loaded_modules: ``sys.modules`` of Slicer's own Python.
    """
    return any(IMPORT_NAMES.get(name, name) in loaded_modules for name in installed_names)
