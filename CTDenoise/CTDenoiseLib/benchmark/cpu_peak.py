"""This CPU in words, and its theoretical multiply-accumulate peak, to say how much of it a network achieves.

Peak = cores x clock x MACs per cycle per core. MACs per cycle follow from the vector units (stated, not
measured): two FMA pipes of 256 bits give 16 FP32 MACs per cycle (AVX2 cores, and AMD Zen 4, which splits
AVX-512 into two 256-bit halves); Intel cores with two 512-bit FMA units give 32. INT8 dot products
(vpdpbusd, VNNI) do 4 byte MACs per 32-bit lane: 4x FP32 per cycle; without VNNI the AVX2 sequence
(vpmaddubsw + vpmaddwd + vpaddd) gives about 2x FP32.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CPUInfo:
    model: str
    vendor: str
    cores: int
    ghz: float
    flags: frozenset[str]

    @property
    def fp32_macs_per_cycle(self) -> int:
        wide = "avx512f" in self.flags and self.vendor != "AuthenticAMD"
        return 32 if wide else 16 if "fma" in self.flags else 4

    @property
    def int8_factor(self) -> int:
        return 4 if {"avx512_vnni", "avx_vnni"} & self.flags else 2

    def peak_macs(self, precision: str, threads: int | None = None) -> float:
        """MAC/s over ``threads`` cores (default all); FP16 is not counted on the CPU (no native FP16 FMA here)."""
        factor = self.int8_factor if precision == "int8" else 1
        return (threads or self.cores) * self.ghz * 1e9 * self.fp32_macs_per_cycle * factor

    def describe(self) -> str:
        isa = "AVX-512 VNNI" if "avx512_vnni" in self.flags else "AVX-VNNI" if "avx_vnni" in self.flags else \
            "AVX2/FMA" if "avx2" in self.flags else "SSE"
        return (f"{self.model}, {self.cores} cores at {self.ghz:.2f} GHz, {isa}; theoretical peak per core "
                f"{self.fp32_macs_per_cycle} FP32 / {self.fp32_macs_per_cycle * self.int8_factor} INT8 MAC per cycle")


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> CPUInfo:
    fields: dict[str, str] = {}
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    ghz = float(fields.get("cpu MHz", "0") or 0) / 1000 or 2.0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return CPUInfo(model=fields.get("model name", platform.processor() or "unknown CPU"),
                   vendor=fields.get("vendor_id", ""), cores=cores, ghz=ghz,
                   flags=frozenset(fields.get("flags", "").split()))
