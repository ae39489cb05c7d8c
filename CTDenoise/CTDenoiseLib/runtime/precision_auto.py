"""``--precision auto`` (the default): the fastest path this machine has, and one line saying which and why.

* a CUDA GPU (device auto or cuda): FP16 through PyTorch;
* a CPU with INT8 dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX): INT8 through OpenVINO, measured
  2.1x (STResNet) to 2.7x (SRResNet) faster than OpenVINO FP32 on an AVX-512 VNNI CPU (Table 1, docs/performance.md);
* any other CPU: FP32 through OpenVINO, because on an AVX2-only CPU INT8 was measured no faster (27.1 s against
  26.3 s for STResNet on 512x512x300);
* INT8 impossible (no OpenVINO, or a model without an INT8 artefact): FP32, saying what is missing.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CTDenoiseError
from ..vocabulary import Backend, Device, Precision
from .backends import DEVICES, Choice, cuda_available, resolve_choice

# CPU flags (as /proc/cpuinfo names them) with INT8 dot-product instructions that make INT8 pay off.
INT8_FAST_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
CPUINFO = Path("/proc/cpuinfo")
# Where /proc/cpuinfo does not exist (macOS, Windows), PyTorch's own CPU probes (private functions of torch.cpu,
# read through getattr: a PyTorch without them reports none) stand in for those flags.
TORCH_INT8_PROBES = (("avx512_vnni", "_is_vnni_supported"), ("amx_int8", "_is_amx_tile_supported"))
MEASURED = {  # the measurements behind each choice, quoted in its info line
    "vnni": "INT8 measured 2.1-2.7x faster than OpenVINO FP32 on an AVX-512 VNNI CPU",
    "no_vnni": "on CPUs without them INT8 was measured no faster than OpenVINO FP32 (27.1 s vs 26.3 s)",
}


def cpu_int8_flags(cpuinfo: Path = CPUINFO) -> tuple[str, ...]:
    """The INT8 dot-product flags this CPU reports (from PyTorch's probes where /proc/cpuinfo is missing, e.g.
    macOS/Windows), less those an ISA cap in the environment hides from the kernels (``ONEDNN_MAX_CPU_ISA=AVX2``:
    isa_cap.py).

    Args:
        cpuinfo: the file to read the ``flags`` line from.
    """
    from .isa_cap import hides_int8_dot_products, isa_cap

    if hides_int8_dot_products(isa_cap()[1]):
        return ()
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return torch_int8_flags()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[-1].split())
            return tuple(flag for flag in INT8_FAST_FLAGS if flag in flags)
    return ()


def torch_int8_flags() -> tuple[str, ...]:
    """The INT8 dot-product flags PyTorch's CPU probes find (``TORCH_INT8_PROBES``)."""
    import torch

    return tuple(flag for flag, probe in TORCH_INT8_PROBES if getattr(torch.cpu, probe, lambda: False)())


def int8_unavailable_reason(model: str) -> str:
    """Empty when ``model`` can run in INT8 here; otherwise why not.

    Args:
        model: a registered model name.
    """
    from ..models.registry import find_model
    from .int8_artefact import int8_missing
    from .openvino_backend import openvino_available

    return "OpenVINO is not installed" if not openvino_available() else int8_missing(find_model(model))


def auto_choice(device: str, has_cuda: bool, int8_flags: tuple[str, ...], int8_missing: str) -> Choice:
    """The choice for ``--precision auto``; its ``note`` names the choice and why.

    Args:
        device: ``auto``, ``cpu`` or ``cuda`` as requested.
        has_cuda: whether PyTorch sees a usable CUDA GPU.
        int8_flags: the CPU's INT8 dot-product flags (``cpu_int8_flags``).
        int8_missing: why INT8 cannot run here (``int8_unavailable_reason``), empty if it can.
    """
    if device == Device.CUDA or (device == Device.AUTO and has_cuda):
        resolve_choice(Precision.FP16, device, has_cuda)  # the same refusal as --precision fp16 when CUDA is missing
        return Choice(Precision.FP16, Device.CUDA, "precision auto: FP16 on CUDA (a CUDA GPU is present)")
    resolve_choice(Precision.FP32, device, has_cuda)
    if not int8_flags:
        from .isa_cap import isa_cap

        variable, cap = isa_cap()
        without = f"{variable}={cap} hides" if cap else "this CPU has no"
        return Choice(Precision.FP32, Device.CPU, f"precision auto: FP32 on the CPU ({without} VNNI/AMX INT8 "
                                                  f"instructions; {MEASURED['no_vnni']})")
    if int8_missing:
        return Choice(Precision.FP32, Device.CPU, f"precision auto: FP32 on the CPU (INT8 would be faster with "
                                                  f"{', '.join(int8_flags)}, but {int8_missing})")
    return Choice(Precision.INT8, Device.CPU, f"precision auto: INT8 on the CPU (this CPU has {', '.join(int8_flags)}; "
                                              f"{MEASURED['vnni']})")


def choose_precision(precision: str, device: str, model: str, backend: str = "auto") -> Choice:
    """``resolve_choice`` for an explicit precision; ``auto_choice`` with this machine's facts for ``auto``.

    Args:
        precision: ``auto``, ``fp32``, ``fp16`` or ``int8``.
        device: ``auto``, ``cpu`` or ``cuda``.
        model: the registered model that will run (its INT8 artefact decides whether INT8 is possible).
        backend: ``--backend``; ``torch`` (PyTorch eager) has no INT8 path.
    """
    if precision != Precision.AUTO:
        return resolve_choice(precision, device)
    if device not in DEVICES:
        raise CTDenoiseError(f"Unknown device '{device}'.", f"Device: {', '.join(DEVICES)}.")
    has_cuda = cuda_available()
    flags = cpu_int8_flags() if device == Device.CPU or not has_cuda else ()
    missing = ("--backend torch has no INT8 path" if backend == Backend.TORCH
               else int8_unavailable_reason(model) if flags else "")
    return auto_choice(device, has_cuda, flags, missing)
