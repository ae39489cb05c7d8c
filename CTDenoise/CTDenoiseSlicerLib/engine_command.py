"""The engine command lines the module runs, exactly as documented for ``python -m CTDenoiseLib``."""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ENGINE_PACKAGE = "CTDenoiseLib"


def python_executable(which: Callable[[str], str | None] = shutil.which, in_slicer: bool | None = None) -> str:
    """``PythonSlicer`` inside Slicer (the launcher sets up Slicer's Python environment); the current
    interpreter elsewhere. Slicer's own ``sys.executable`` is the application, not a Python."""
    if in_slicer is None:
        in_slicer = "slicer" in sys.modules
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


@dataclass(frozen=True)
class DenoiseOptions:
    model: str = "stresnet"
    precision: str = "fp32"
    device: str = "auto"
    max_tile_mvox: float | None = None
    self_ensemble: bool = False


def denoise_command(python: str, input_path: str, output_path: str, options: DenoiseOptions) -> list[str]:
    args = [python, "-m", ENGINE_PACKAGE, "denoise", input_path, output_path, "--model", options.model,
            "--precision", options.precision, "--device", options.device, "--progress", "json"]
    if options.max_tile_mvox:
        args += ["--max-tile-mvox", f"{options.max_tile_mvox:g}"]
    if options.self_ensemble:
        args.append("--self-ensemble")
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


def output_volume_name(input_name: str, model_title: str, precision: str) -> str:
    """``"chest denoised STResNet FP16"``: says where the volume came from in the Data module."""
    return f"{input_name} denoised {model_title} {precision.upper()}"


def safe_file_stem(name: str) -> str:
    """A node name made safe for a temporary file name."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return stem or "volume"
