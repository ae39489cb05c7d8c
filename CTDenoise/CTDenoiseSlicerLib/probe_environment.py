"""Run in a child Python (``PythonSlicer -m CTDenoiseSlicerLib.probe_environment``): print one JSON line with
the installed versions of the engine's dependencies and whether PyTorch sees a CUDA GPU.

A child, because importing torch takes seconds and the GUI must not wait for it; and because a child sees
what is installed now, after an install, without restarting Slicer. Imports nothing from Slicer.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path

DISTRIBUTIONS = ("torch", "numpy", "SimpleITK", "pydicom", "scipy", "safetensors", "openvino", "pyradiomics-bhklab",
                 "matplotlib", "scikit-image")


# CPU flags with INT8 dot-product instructions; the engine's --precision auto takes INT8 only where one is
# present (CTDenoiseLib.runtime.precision_auto.INT8_FAST_FLAGS; a test keeps the two equal).
INT8_FAST_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
# Without /proc/cpuinfo (macOS, Windows): PyTorch's CPU probes, as the engine (precision_auto.TORCH_INT8_PROBES).
TORCH_INT8_PROBES = (("avx512_vnni", "_is_vnni_supported"), ("amx_int8", "_is_amx_tile_supported"))


def cpu_int8_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str] | None:
    """The INT8 dot-product flags the CPU reports; None where /proc/cpuinfo does not exist (macOS, Windows: then
    ``torch_int8_flags`` asks PyTorch, as the engine does)."""
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[-1].split())
            return [flag for flag in INT8_FAST_FLAGS if flag in flags]
    return []


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


def torch_int8_flags() -> list[str]:
    """The INT8 dot-product flags PyTorch's CPU probes find; empty when torch cannot be imported."""
    try:
        import torch
    except Exception:  # reported by cuda_report
        return []
    return [flag for flag, probe in TORCH_INT8_PROBES if getattr(torch.cpu, probe, lambda: False)()]


def probe() -> dict:
    report = {"python": sys.version.split()[0], "packages": installed_versions(), "int8_cpu_flags": cpu_int8_flags()}
    if report["packages"]["torch"]:
        report.update(cuda_report())
    else:
        report.update({"torch_import_error": None, "cuda": False, "gpus": []})
    if report["int8_cpu_flags"] is None:
        report["int8_cpu_flags"] = torch_int8_flags() if report["packages"]["torch"] else []
    return report


if __name__ == "__main__":
    print(json.dumps(probe()), flush=True)
