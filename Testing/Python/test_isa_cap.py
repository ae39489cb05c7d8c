"""An ISA cap in the environment (ONEDNN_MAX_CPU_ISA) is what the kernels may use: the benchmark describes the CPU
as capped and counts its peak accordingly."""

from __future__ import annotations

import pytest

from CTDenoiseLib.benchmark.cpu_peak import CPUInfo
from CTDenoiseLib.runtime.isa_cap import hides_avx512, hides_int8_dot_products, isa_cap, usable_flags

ZEN4_FLAGS = frozenset({"fma", "avx2", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16"})


def test_the_cap_is_read_from_either_variable_and_upper_cased() -> None:
    assert isa_cap({}) == ("", "")
    assert isa_cap({"ONEDNN_MAX_CPU_ISA": "avx2"}) == ("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert isa_cap({"DNNL_MAX_CPU_ISA": "AVX512_CORE"}) == ("DNNL_MAX_CPU_ISA", "AVX512_CORE")


@pytest.mark.parametrize("cap, no_int8, no_avx512", [("", False, False), ("AVX2", True, True),
                                                     ("AVX2_VNNI", False, True), ("AVX512_CORE", True, False),
                                                     ("AVX512_CORE_VNNI", False, False), ("ALL", False, False)])
def test_which_caps_hide_int8_dot_products_and_avx512(cap: str, no_int8: bool, no_avx512: bool) -> None:
    assert hides_int8_dot_products(cap) is no_int8
    assert hides_avx512(cap) is no_avx512


def test_an_avx2_cap_leaves_an_avx512_vnni_cpu_with_avx2_only() -> None:
    assert usable_flags(ZEN4_FLAGS, "AVX2") == {"fma", "avx2"}
    assert usable_flags(ZEN4_FLAGS, "") == ZEN4_FLAGS
    assert "avx512_vnni" in usable_flags(ZEN4_FLAGS, "AVX512_CORE_VNNI")


def test_the_benchmark_describes_the_cap_and_counts_its_peak() -> None:
    native = CPUInfo("AMD EPYC", "AuthenticAMD", 2, 2.6, ZEN4_FLAGS)
    capped = CPUInfo("AMD EPYC", "AuthenticAMD", 2, 2.6, ZEN4_FLAGS, isa_cap="ONEDNN_MAX_CPU_ISA=AVX2")
    assert native.int8_factor == 4 and capped.int8_factor == 2
    assert "AVX-512 VNNI" in native.describe() and "used as" not in native.describe()
    assert "AVX-512 VNNI, used as AVX2/FMA (ONEDNN_MAX_CPU_ISA=AVX2)" in capped.describe()
    intel = CPUInfo("Xeon", "GenuineIntel", 2, 2.6, ZEN4_FLAGS, isa_cap="ONEDNN_MAX_CPU_ISA=AVX2")
    assert intel.fp32_macs_per_cycle == 16  # two 256-bit FMA pipes, not the 512-bit ones the cap hides


def test_precision_auto_treats_a_cpu_capped_below_vnni_as_one_without(tmp_path, monkeypatch) -> None:
    from CTDenoiseLib.runtime.precision_auto import auto_choice, cpu_int8_flags

    info = tmp_path / "cpuinfo"
    info.write_text("flags\t\t: fma avx2 avx512f avx512_vnni\n")
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert cpu_int8_flags(info) == ("avx512_vnni",)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_VNNI")
    assert cpu_int8_flags(info) == ("avx512_vnni",)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    assert cpu_int8_flags(info) == ()
    choice = auto_choice("cpu", False, cpu_int8_flags(info), "")
    assert choice.precision == "fp32" and "ONEDNN_MAX_CPU_ISA=AVX2 hides" in choice.note


def test_without_proc_cpuinfo_precision_auto_asks_pytorchs_cpu_probes(tmp_path, monkeypatch) -> None:
    import torch

    from CTDenoiseLib.runtime.precision_auto import auto_choice, cpu_int8_flags

    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(torch.cpu, "_is_vnni_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert cpu_int8_flags(tmp_path / "absent") == ("avx512_vnni",)  # Windows, macOS on a VNNI CPU
    assert auto_choice("cpu", False, cpu_int8_flags(tmp_path / "absent"), "").precision == "int8"
    monkeypatch.setattr(torch.cpu, "_is_vnni_supported", lambda: False, raising=False)
    assert cpu_int8_flags(tmp_path / "absent") == ()
    monkeypatch.delattr(torch.cpu, "_is_vnni_supported", raising=False)  # a PyTorch without the probe
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    assert cpu_int8_flags(tmp_path / "absent") == ()
