"""One benchmark run: simulate the low-dose input once, measure every row on it, optionally at full size."""

from __future__ import annotations

import datetime
import platform
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..evaluation.metrics import psnr, ssim
from ..hu import to_int16_hu
from ..io.plausibility import check_ct_volume
from ..io.volumes import Volume, read_volume, write_volume
from ..simulation.low_dose import DoseSimulation, simulate_volume
from .cpu_peak import CPUInfo
from .rows import FULL_VOLUME_VOXELS, BenchmarkReport, RowSpec, default_rows, measure_row, run_denoise_process

FULL_SHAPE = (300, 512, 512)


def _versions() -> dict:
    import torch

    versions = {"python": platform.python_version(), "torch": torch.__version__}
    try:
        import openvino

        versions["openvino"] = openvino.__version__
    except ImportError:
        versions["openvino"] = "not installed"
    return versions


def run_benchmark(source: Path, models: list[str], dose: float, seed: int, repeats: int, threads: int, work: Path,
                  cpu: CPUInfo, log: Callable[[str], None]) -> tuple[BenchmarkReport, Volume]:
    normal = read_volume(source)
    check_ct_volume(normal)
    log(f"simulating {dose:.0%} dose on {source} ...")
    low = simulate_volume(normal, DoseSimulation(dose=dose, seed=seed))
    low = low.with_array(to_int16_hu(low.array))
    low_path = write_volume(low, work / "low_dose.nrrd")
    reference = normal.array.astype(np.float32)
    rows = []
    for spec in default_rows(models):
        log(f"measuring {spec.label} ...")
        rows.append(measure_row(spec, low_path, reference, work, repeats, threads))
        row = rows[-1]
        log(f"  {row.status} {row.reason}" if row.status != "ok" else f"  {row.best:.2f} s, {row.psnr:.2f} dB")
    report = BenchmarkReport(
        date=datetime.date.today().isoformat(), machine=f"{cpu.describe()}; {platform.system()} {platform.machine()}",
        threads=threads, input=str(source), shape=tuple(normal.array.shape), dose=dose,  # type: ignore[arg-type]
        low_dose_psnr=psnr(reference, low.array), low_dose_ssim=ssim(reference, low.array), rows=rows,
        versions=_versions())
    return report, low


def full_size_volume(low: Volume) -> Volume:
    """512x512x300 made of the input's slices (repeated along z, cropped or edge-padded in-plane)."""
    array = low.array
    reps = -(-FULL_SHAPE[0] // array.shape[0])
    stacked = np.concatenate([array, array[::-1]] * (-(-reps // 2)), axis=0)[: FULL_SHAPE[0]]
    pad = [(0, 0)] + [(0, max(0, size - length)) for size, length in zip(FULL_SHAPE[1:], array.shape[1:])]
    stacked = np.pad(stacked, pad, mode="edge")[:, : FULL_SHAPE[1], : FULL_SHAPE[2]]
    return replace(low, array=np.ascontiguousarray(stacked))


def full_size_rows(report: BenchmarkReport, low: Volume, work: Path, threads: int,
                   log: Callable[[str], None]) -> list[dict]:
    """Each CPU row that ran, once on the full-size volume: denoise seconds and peak memory."""
    path = write_volume(full_size_volume(low), work / "full_size_low_dose.nrrd")
    results = []
    for row in report.rows:
        spec: RowSpec = row.spec
        if row.status != "ok" or spec.device != "cpu":
            continue
        log(f"full size: {spec.label} ...")
        event, wall, peak_mb = run_denoise_process(spec, path, work / "full_size_out.nrrd", threads)
        results.append({"row": spec.label, "seconds": event["denoise_seconds"], "wall_seconds": round(wall, 1),
                        "peak_mb": round(peak_mb), "voxels": FULL_VOLUME_VOXELS})
    return results
