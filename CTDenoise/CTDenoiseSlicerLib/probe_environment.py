"""Run in a child Python (``PythonSlicer -m CTDenoiseSlicerLib.probe_environment``): print one JSON line with
the installed versions of the engine's dependencies and whether PyTorch sees a CUDA GPU.

A child, because importing torch takes seconds and the GUI must not wait for it; and because a child sees
what is installed now, after an install, without restarting Slicer. Imports nothing from Slicer.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys

DISTRIBUTIONS = ("torch", "numpy", "SimpleITK", "scipy", "safetensors", "pyradiomics-bhklab", "matplotlib", "scikit-image")


def installed_versions(names: tuple[str, ...] = DISTRIBUTIONS) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cuda_report() -> dict:
    try:
        import torch
    except Exception as error:  # a broken install shows up here too, e.g. a missing DLL
        return {"torch_import_error": f"{type(error).__name__}: {error}", "cuda": False, "gpus": []}
    available = bool(torch.cuda.is_available())
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if available else []
    return {"torch_import_error": None, "cuda": available, "gpus": gpus, "torch_cuda_build": torch.version.cuda}


def probe() -> dict:
    report = {"python": sys.version.split()[0], "packages": installed_versions()}
    if report["packages"]["torch"]:
        report.update(cuda_report())
    else:
        report.update({"torch_import_error": None, "cuda": False, "gpus": []})
    return report


if __name__ == "__main__":
    print(json.dumps(probe()), flush=True)
