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

from ..vocabulary import Precision


@dataclass(frozen=True)
class CPUInfo:
    model: str
    vendor: str
    cores: int
    ghz: float
    flags: frozenset[str]
    isa_cap: str = ""  # e.g. "ONEDNN_MAX_CPU_ISA=AVX2" (runtime/isa_cap.py): what the kernels may use, not the CPU

    @property
    def usable_flags(self) -> frozenset[str]:
        """The flags the kernels may use under the ISA cap (``isa_cap``)."""
        from ..runtime.isa_cap import usable_flags

        return usable_flags(self.flags, self.isa_cap.partition("=")[2])

    @property
    def fp32_macs_per_cycle(self) -> int:
        """FP32 multiply-adds per cycle and core: 32 with AVX-512 (not on AMD, whose AVX-512 is two
        256-bit halves), 16 with FMA (AVX2), else 4.
        """
        wide = "avx512f" in self.usable_flags and self.vendor != "AuthenticAMD"
        return 32 if wide else 16 if "fma" in self.usable_flags else 4

    @property
    def int8_factor(self) -> int:
        """INT8 multiply-adds per FP32 one: 4 with VNNI, else 2."""
        return 4 if {"avx512_vnni", "avx_vnni"} & self.usable_flags else 2

    def peak_macs(self, precision: str, threads: int | None = None) -> float:
        """MAC/s over ``threads`` cores (default all); FP16 is not counted on the CPU (no native FP16 FMA here).

        Args:
            precision: ``fp32`` or ``int8``.
            threads: cores counted; None: all.
        """
        factor = self.int8_factor if precision == Precision.INT8 else 1
        return (threads or self.cores) * self.ghz * 1e9 * self.fp32_macs_per_cycle * factor

    def describe(self) -> str:
        """The CPU, its instruction set (and the cap in force, if any) and its peak MACs per cycle per core."""
        isa = _isa_name(self.flags)
        if self.isa_cap:
            isa += f", used as {_isa_name(self.usable_flags)} ({self.isa_cap})"
        return (f"{self.model}, {self.cores} cores at {self.ghz:.2f} GHz, {isa}; theoretical peak per core "
                f"{self.fp32_macs_per_cycle} FP32 / {self.fp32_macs_per_cycle * self.int8_factor} INT8 MAC per cycle")


def _isa_name(flags: frozenset[str]) -> str:
    return "AVX-512 VNNI" if "avx512_vnni" in flags else "AVX-VNNI" if "avx_vnni" in flags else \
        "AVX2/FMA" if "avx2" in flags else "SSE"


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> CPUInfo:
    """This CPU as /proc/cpuinfo describes it, with the oneDNN ISA cap of the environment.

    Args:
        cpuinfo: the file to read.
    """
    from ..runtime.isa_cap import isa_cap

    cap_variable, cap_value = isa_cap()
    fields: dict[str, str] = {}
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    ghz = float(fields.get("cpu MHz", "0") or 0) / 1000 or 2.0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return CPUInfo(model=fields.get("model name", platform.processor() or "unknown CPU"),
                   vendor=fields.get("vendor_id", ""), cores=cores, ghz=ghz,
                   flags=frozenset(fields.get("flags", "").split()),
                   isa_cap=f"{cap_variable}={cap_value}" if cap_value else "")
