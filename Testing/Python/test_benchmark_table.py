"""`ctdenoise benchmark`: rows that cannot run are marked with the reason, speed-ups are against SRResNet FP32
(PyTorch eager) on the same device, and the peak arithmetic follows the CPU's vector units."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from CTDenoiseLib.benchmark.cpu_peak import CPUInfo, cpu_info
from CTDenoiseLib.benchmark.rows import BenchmarkReport, RowResult, RowSpec
from CTDenoiseLib.benchmark.table import render

from tiny_models import real_ct, register_tiny_models, write_crop

ZEN4 = CPUInfo("AMD EPYC", "AuthenticAMD", 2, 2.6, frozenset({"fma", "avx2", "avx512f", "avx512_vnni"}))


def test_peak_follows_vector_units(tmp_path: Path) -> None:
    assert ZEN4.peak_macs("fp32") == pytest.approx(2 * 2.6e9 * 16)
    assert ZEN4.peak_macs("int8", threads=1) == pytest.approx(2.6e9 * 64)
    avx2 = CPUInfo("laptop", "GenuineIntel", 2, 3.0, frozenset({"fma", "avx2"}))
    assert avx2.peak_macs("int8") == 2 * avx2.peak_macs("fp32")  # no VNNI: about twice FP32
    fake = tmp_path / "cpuinfo"
    fake.write_text("vendor_id\t: GenuineIntel\nmodel name\t: Test CPU\ncpu MHz\t\t: 3000.000\n"
                    "flags\t\t: fma avx2 avx512f avx512_vnni\n")
    info = cpu_info(fake)
    assert (info.model, info.ghz, info.fp32_macs_per_cycle, info.int8_factor) == ("Test CPU", 3.0, 32, 4)


def test_render_marks_unavailable_rows_and_computes_speedups() -> None:
    rows = [RowResult(RowSpec("srresnet", "fp32", "torch"), psnr=30.0, ssim=0.8, lpips="unavailable: no lpips",
                      seconds=[8.0, 9.0], peak_mb=900, macs_per_voxel=63000),
            RowResult(RowSpec("stresnet", "int8", "openvino"), psnr=29.9, ssim=0.8, lpips=0.2, seconds=[1.0],
                      peak_mb=700, macs_per_voxel=29000),
            RowResult(RowSpec("stresnet", "fp16", "torch", "cuda"), status="unavailable", reason="no CUDA GPU")]
    report = BenchmarkReport("2026-01-01", "test machine", 2, "ct.nrrd", (16, 512, 512), 0.1, 25.0, 0.5, rows, {})
    table = render(report, ZEN4)
    lines = {line.split("|")[1].strip() + " " + line.split("|")[2].strip(): line for line in table.splitlines()
             if line.startswith("| s")}
    assert "| 8.00 |" in lines["srresnet FP32"] and "1.00x" in lines["srresnet FP32"]
    assert "8.00x" in lines["stresnet INT8"] and "| 4.19 |" in lines["stresnet INT8"]  # 4.19 Mvox/s
    assert "unavailable: no CUDA GPU" in lines["stresnet FP16"]
    assert "LPIPS unavailable: no lpips" in table and "2026-01-01" in table
    projected = 512 * 512 * 300 / (16 * 512 * 512) * 1.0
    assert f"| {projected:.0f} |" in lines["stresnet INT8"]


def test_benchmark_command_on_a_small_real_volume(tmp_path: Path) -> None:
    source = write_crop(real_ct("lidc/LIDC-IDRI-0001/image.nrrd"), tmp_path / "ct.nrrd",
                        slice(0, 6), slice(200, 264), slice(200, 264))
    models = register_tiny_models(tmp_path / "models", names=("srresnet", "stresnet"))
    environment = {**os.environ, "CTDENOISE_MODEL_DIRS": str(models)}
    command = [sys.executable, "-m", "CTDenoiseLib", "benchmark", "--input", str(source), "--models", "srresnet",
               "--repeats", "1", "--threads", "1", "--json", str(tmp_path / "table.json")]
    process = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert process.returncode == 0, process.stderr[-2000:]
    assert "| srresnet | FP32 | PyTorch eager | CPU |" in process.stdout
    assert "| srresnet | INT8 | OpenVINO | CPU | unavailable: no INT8 artefact" in process.stdout
    data = json.loads((tmp_path / "table.json").read_text())
    ran = [row for row in data["rows"] if row["status"] == "ok"]
    assert ran and all(row["psnr"] > 10 and row["peak_mb"] > 0 for row in ran)
