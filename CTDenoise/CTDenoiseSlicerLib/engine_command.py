"""The engine command lines the module runs, exactly as documented for ``python -m CTDenoiseLib``."""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from .model_catalog import DEFAULT_MODEL

ENGINE_PACKAGE = "CTDenoiseLib"


def python_executable(which: Callable[[str], str | None] = shutil.which, in_slicer: bool | None = None) -> str:
    """``PythonSlicer`` inside the Slicer application (the launcher sets up Slicer's Python environment); the
    current interpreter elsewhere. The application's ``sys.executable`` is the application, not a Python; it is
    the only place where ``slicer.app`` is set (not in ``PythonSlicer`` nor where the slicer-core wheel was
    imported, whose ``sys.executable`` is a Python)."""
    if in_slicer is None:
        in_slicer = getattr(sys.modules.get("slicer"), "app", None) is not None
    if not in_slicer:
        return sys.executable
    found = which("PythonSlicer")
    if found:
        return found
    name = "PythonSlicer.exe" if os.name == "nt" else "PythonSlicer"
    return str(Path(sys.executable).with_name(name))


def engine_dir() -> str:
    """The folder that holds ``CTDenoiseLib``: the module folder, used as the working directory of the child so
    that ``-m CTDenoiseLib`` finds the engine shipped inside the extension."""
    return str(Path(__file__).resolve().parents[1])


def child_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every child process: UTF-8 for its standard streams and file names whatever the
    Windows code page, so that a non-ASCII path in an error line reaches the panel intact.

    Args:
        base: the environment to extend (``os.environ`` when None).
    """
    environment = dict(os.environ if base is None else base)
    environment["PYTHONUTF8"] = "1"
    environment["PYTHONIOENCODING"] = "utf-8"
    return environment


@dataclass(frozen=True)
class DenoiseOptions:
    model: str = DEFAULT_MODEL
    precision: str = "auto"  # the engine picks the fastest path for the machine and says which
    device: str = "auto"
    max_tile_mvox: float | None = None
    self_ensemble: bool = False
    strength: float = 1.0  # 1: the network's output; 0: the input; between: a blend
    adapt: bool = False  # fine-tune a copy of the network on this scan first (--adapt)


def denoise_command(python: str, input_path: str, output_path: str, options: DenoiseOptions) -> list[str]:
    """The ``denoise`` command line for one volume, with JSON progress.

    Args:
        python: Slicer's Python (``PythonSlicer``).
        input_path: the NRRD written from the input volume.
        output_path: where the engine writes the result.
        options: the panel's choices.
    """
    if not 0.0 <= options.strength <= 1.0:
        raise ValueError(f"The denoising strength must be between 0 and 1, not {options.strength:g}.")
    args = [python, "-m", ENGINE_PACKAGE, "denoise", input_path, output_path, "--model", options.model,
            "--precision", options.precision, "--device", options.device, "--progress", "json"]
    if options.max_tile_mvox:
        args += ["--max-tile-mvox", f"{options.max_tile_mvox:g}"]
    if options.self_ensemble:
        args.append("--self-ensemble")
    if options.strength < 1.0:  # 1.0 is the engine's default
        args += ["--strength", f"{options.strength:.2f}"]
    if options.adapt:
        args.append("--adapt")
    return args


def radiomics_command(python: str, mask: str, images: list[str], output_dir: str, reference: str | None = None,
                      label: int = 1) -> list[str]:
    args = [python, "-m", ENGINE_PACKAGE, "radiomics", "--mask", mask, "--label", str(label)]
    for image in images:
        args += ["--image", image]
    if reference:
        args += ["--reference", reference]
    return args + ["--output-dir", output_dir, "--progress", "json"]


def models_command(python: str) -> list[str]:
    return [python, "-m", ENGINE_PACKAGE, "models", "--json"]


def output_volume_name(input_name: str, model_title: str, precision: str, strength: float = 1.0) -> str:
    """``"chest denoised STResNet FP16"``: says where the volume came from in the Data module.

    Args:
        input_name: the input volume's name.
        model_title: the model's display name.
        precision: what ran (fp32/fp16/int8); ``auto`` when the engine did not say.
        strength: the blend of the network's output, shown when below 1.
    """
    name = f"{input_name} denoised {model_title}"
    if precision != "auto":
        name += f" {precision.upper()}"
    if strength < 1.0:
        name += f" strength {strength:.2f}"
    return name


def safe_file_stem(name: str) -> str:
    """A node name made safe for a temporary file name."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return stem or "volume"
