"""Rendering a benchmark report as the seed's Table 1 (Markdown), with speed-ups, projections and peak use."""

from __future__ import annotations

from ..vocabulary import BASELINE_MODEL, Backend, Precision
from .cpu_peak import CPUInfo
from .rows import FULL_VOLUME_VOXELS, BenchmarkReport, RowResult

HEADER = ("| Model | Precision | Engine | Device | PSNR dB | SSIM | LPIPS | s | Mvox/s | Peak MB | Speed-up | "
          "512x512x300 s | % of peak |")


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def reference_seconds(rows: list[RowResult], device: str) -> float | None:
    """SRResNet FP32 under PyTorch eager on ``device``: the row every speed-up is measured against."""
    for row in rows:
        spec = row.spec
        if (spec.model.startswith(BASELINE_MODEL) and spec.precision == Precision.FP32 and spec.backend == Backend.TORCH
                and spec.device == device and row.best):
            return row.best
    return None


def peak_fraction(row: RowResult, voxels: int, cpu: CPUInfo, threads: int) -> float | None:
    if row.spec.device != "cpu" or not row.best or not row.macs_per_voxel:
        return None
    return row.macs_per_voxel * voxels / row.best / cpu.peak_macs(row.spec.precision, threads)


def render(report: BenchmarkReport, cpu: CPUInfo) -> str:
    voxels = report.shape[0] * report.shape[1] * report.shape[2]
    lines = [f"Table 1 on this machine, {report.date}: {report.machine}; {report.threads} thread(s).",
             f"Input: {report.input} ({report.shape[2]}x{report.shape[1]}x{report.shape[0]} voxels), simulated "
             f"{report.dose:.0%} dose; PSNR/SSIM over -1024..1900 HU against the normal-dose scan. "
             f"Low-dose input: {report.low_dose_psnr:.2f} dB / {report.low_dose_ssim:.4f}.",
             "", HEADER, "|" + "---|" * (HEADER.count("|") - 1)]
    for row in report.rows:
        spec = row.spec
        engine = {"torch": "PyTorch eager", "openvino": "OpenVINO"}[spec.backend]
        start = f"| {spec.model} | {spec.precision.upper()} | {engine} | {spec.device.upper()} |"
        if row.status != "ok":
            lines.append(f"{start} {row.status}: {row.reason} |" + " |" * 9)
            continue
        reference = reference_seconds(report.rows, spec.device)
        speedup = reference / row.best if reference and row.best else None
        lpips = row.lpips if isinstance(row.lpips, float) else None
        fraction = peak_fraction(row, voxels, cpu, report.threads)
        lines.append(
            f"{start} {_number(row.psnr, 2)} | {_number(row.ssim, 4)} | {_number(lpips, 4)} | {_number(row.best, 2)} | "
            f"{_number(voxels / row.best / 1e6 if row.best else None, 2)} | {_number(row.peak_mb, 0)} | "
            f"{_number(speedup, 2)}x | {_number(FULL_VOLUME_VOXELS / voxels * row.best if row.best else None, 0)} | "
            f"{_number(fraction * 100 if fraction is not None else None, 1)} |")
    reasons = {row.lpips for row in report.rows if isinstance(row.lpips, str)}
    lines.append("")
    if reasons:
        lines.append(f"LPIPS {sorted(reasons)[0]}.")
    lines.append("s: the engine's denoise time (best of the repeats; tiles, halos and OpenVINO's compilation included, "
                 "process start and file I/O not). Peak MB: the process's peak resident memory. Speed-up: against "
                 "SRResNet FP32 in PyTorch eager on the same device. 512x512x300 s: s scaled by voxel count. "
                 f"% of peak: achieved MAC/s over the theoretical peak ({cpu.describe()}).")
    return "\n".join(lines)


def render_full_size(rows: list[dict]) -> str:
    lines = ["Full size (512x512x300, the input's slices repeated), one run per row:", "",
             "| Row | Denoise s | Wall s | Peak MB |", "|---|---|---|---|"]
    lines += [f"| {row['row']} | {row['seconds']:.1f} | {row['wall_seconds']:.1f} | {row['peak_mb']} |" for row in rows]
    return "\n".join(lines)
