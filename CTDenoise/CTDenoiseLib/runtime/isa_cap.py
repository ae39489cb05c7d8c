"""An instruction-set cap set in the environment, as a user or a benchmark sets it to behave like an older CPU.

oneDNN, which runs the convolutions of OpenVINO and PyTorch on the CPU, dispatches no instruction set above
``ONEDNN_MAX_CPU_ISA`` (``DNNL_MAX_CPU_ISA`` is its older name); OpenVINO's own kernels follow ``OV_CPU_MAX_ISA``.
``ONEDNN_MAX_CPU_ISA=AVX2 OV_CPU_MAX_ISA=AVX2`` on an AVX-512 VNNI CPU makes OpenVINO pick its AVX2 INT8 kernels
(``jit_avx2_I8`` for ``brgconv_avx512_I8``, checked in the runtime model), so INT8 then gains what it gains on an
AVX2-only CPU, and ``--precision auto`` and the benchmark must reason as on one.
"""

from __future__ import annotations

import os
from typing import Mapping

ISA_CAP_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
# oneDNN's cap names that still include INT8 dot-product instructions (VNNI, AMX); DEFAULT and ALL mean no cap.
CAPS_KEEPING_INT8_DOT_PRODUCTS = ("AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE_VNNI", "AVX512_CORE_BF16",
                                  "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512",
                                  "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "AVX10_2_512", "AVX10_2_512_AMX_2",
                                  "ALL", "DEFAULT")


def isa_cap(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The (variable, value) of the oneDNN ISA cap in force, value upper-cased; ("", "") when none is set.

    Args:
        environ: the environment to read (default: this process's).
    """
    environ = os.environ if environ is None else environ
    for variable in ISA_CAP_VARIABLES:
        value = environ.get(variable, "").strip().upper()
        if value:
            return variable, value
    return "", ""


def hides_int8_dot_products(cap: str) -> bool:
    """Whether the cap value (e.g. ``AVX2``) excludes the INT8 dot-product instructions (VNNI, AMX).

    Args:
        cap: a oneDNN ISA cap value, upper case; "" for none.
    """
    return bool(cap) and cap not in CAPS_KEEPING_INT8_DOT_PRODUCTS


def hides_avx512(cap: str) -> bool:
    """Whether the cap value (e.g. ``AVX2``, ``AVX2_VNNI``) excludes AVX-512.

    Args:
        cap: a oneDNN ISA cap value, upper case; "" for none.
    """
    return bool(cap) and cap not in ("ALL", "DEFAULT") and not cap.startswith(("AVX512", "AVX10"))


def usable_flags(flags: frozenset[str], cap: str) -> frozenset[str]:
    """The /proc/cpuinfo flags the kernels may use under the cap value.

    Args:
        flags: the CPU's flags.
        cap: a oneDNN ISA cap value, upper case; "" for none.
    """
    hidden = {"avx512_vnni", "avx_vnni", "amx_int8"} if hides_int8_dot_products(cap) else set()
    if hides_avx512(cap):
        hidden |= {flag for flag in flags if flag.startswith(("avx512", "amx"))}
    return frozenset(flags - hidden)
