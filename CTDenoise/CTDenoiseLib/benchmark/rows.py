"""The seed's Table 1 on this machine: each model x precision runs as its own ``ctdenoise denoise`` process on
the same simulated low-dose volume, in one run; quality is measured against the normal-dose original.

Seconds are the engine's own ``denoise_seconds`` (normalisation, every tile through the network including
OpenVINO's per-shape compilation, reassembly); process start, model loading and file I/O are reported apart
as ``wall s``. Peak memory is that process's own peak resident set (VmHWM), so every row is measured alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import events
from ..errors import CTDenoiseError
from ..evaluation.metrics import psnr, ssim
from ..io.volumes import read_volume
from ..runtime.backends import cuda_available
from ..vocabulary import Backend, Device, Precision

FULL_VOLUME_VOXELS = 512 * 512 * 300


@dataclass(frozen=True)
class RowSpec:
    model: str
    precision: str
    backend: str  # "torch" (PyTorch eager) or "openvino"
    device: str = "cpu"

    @property
    def label(self) -> str:
        """The row as the table names it, e.g. ``stresnet INT8 (OpenVINO, CPU)``."""
        engine = {"torch": "PyTorch eager", "openvino": "OpenVINO"}[self.backend]
        return f"{self.model} {self.precision.upper()} ({engine}, {self.device.upper()})"


@dataclass
class RowResult:
    spec: RowSpec
    status: str = "ok"  # "ok", "unavailable" or "failed"
    reason: str = ""
    psnr: float | None = None
    ssim: float | None = None
    lpips: float | str | None = None
    seconds: list[float] = field(default_factory=list)  # denoise_seconds of each repeat
    wall_seconds: float | None = None
    peak_mb: float | None = None
    macs_per_voxel: int = 0

    @property
    def best(self) -> float | None:
        """The fastest repeat's denoising seconds; None when nothing was measured."""
        return min(self.seconds) if self.seconds else None


def default_rows(models: list[str]) -> list[RowSpec]:
    rows = []
    for model in models:
        rows += [RowSpec(model, Precision.FP32.value, Backend.TORCH.value),
                 RowSpec(model, Precision.FP32.value, Backend.OPENVINO.value),
                 RowSpec(model, Precision.INT8.value, Backend.OPENVINO.value),
                 RowSpec(model, Precision.FP32.value, Backend.TORCH.value, Device.CUDA.value),
                 RowSpec(model, Precision.FP16.value, Backend.TORCH.value, Device.CUDA.value)]
    return rows


def why_unavailable(spec: RowSpec) -> str:
    """Empty when the row can run here, else the reason."""
    from ..models.registry import find_model
    from ..runtime.openvino_backend import openvino_available

    if spec.device == "cuda" and not cuda_available():
        return "no CUDA GPU on this machine"
    if spec.backend == "openvino" and not openvino_available():
        return 'OpenVINO not installed (pip install "openvino>=2026.0")'
    try:
        entry = find_model(spec.model)
    except CTDenoiseError as error:
        return str(error)
    if spec.precision == Precision.INT8 and "int8" not in entry.extra:
        return f"no INT8 artefact (ctdenoise quantize --model {spec.model} ...)"
    return ""


def measure_row(spec: RowSpec, source: Path, reference: np.ndarray, work: Path, repeats: int, threads: int,
                quality: bool = True) -> RowResult:
    from ..models.files import load_model

    result = RowResult(spec)
    reason = why_unavailable(spec)
    if reason:
        result.status, result.reason = "unavailable", reason
        return result
    result.macs_per_voxel = int(load_model(spec.model).card.get("macs_per_voxel", 0))
    output = work / f"{spec.model}-{spec.precision}-{spec.backend}-{spec.device}.nrrd"
    peaks: list[float | None] = []
    try:
        for _ in range(repeats):
            event, wall, peak_mb = run_denoise_process(spec, source, output, threads)
            result.seconds.append(float(event["denoise_seconds"]))
            result.wall_seconds = min(wall, result.wall_seconds or wall)
            peaks.append(peak_mb)
    except CTDenoiseError as error:
        result.status, result.reason = "failed", str(error)
        return result
    result.peak_mb = max(peaks) if all(peak is not None for peak in peaks) else None
    if quality:
        denoised = read_volume(output).array
        result.psnr, result.ssim = psnr(reference, denoised), ssim(reference, denoised)
        result.lpips = lpips_or_reason(reference, denoised)
    return result


def run_denoise_process(spec: RowSpec, source: Path, output: Path, threads: int) -> tuple[dict, float, float | None]:
    """Run ``ctdenoise denoise`` for one row: its "file" event, wall seconds, and its peak RSS in MB."""
    command = [sys.executable, "-m", "CTDenoiseLib", "denoise", str(source), str(output), "--model", spec.model,
               "--precision", spec.precision, "--device", spec.device, "--backend", spec.backend, "--progress", "json"]
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    wall = time.perf_counter() - started
    lines = process.stdout.splitlines()
    if process.returncode != 0:
        message = (process.stderr.strip().splitlines() or ["no message"])[-1]
        raise CTDenoiseError(f"{spec.label} failed: {message}")
    event = next(data for data in map(events.parse, lines) if data and data["event"] == "file")
    # The child's own high-water mark (VmHWM); ru_maxrss would include this process's memory at the fork.
    return event, wall, event.get("peak_rss_mb")


def lpips_or_reason(reference: np.ndarray, image: np.ndarray) -> float | str:
    try:
        from ..evaluation.lpips_metric import lpips_axial, lpips_unavailable_reason
    except ImportError as error:
        return f"unavailable: {error}"
    reason = lpips_unavailable_reason()
    return f"unavailable: {reason}" if reason else lpips_axial(reference, image)


@dataclass
class BenchmarkReport:
    date: str
    machine: str
    threads: int
    input: str
    shape: tuple[int, int, int]
    dose: float
    low_dose_psnr: float
    low_dose_ssim: float
    rows: list[RowResult]
    versions: dict

    def to_json(self) -> dict:
        """The report as JSON-ready data, each row with its label and best time."""
        data = asdict(self)
        for row, source in zip(data["rows"], self.rows):
            row["best_seconds"] = source.best
        return data
