"""Which precision can run on which device, with the reason shown as a tooltip on a disabled choice.

The same rules as the engine's ``--precision``/``--device`` check: FP32 on CPU or GPU, FP16 only on a CUDA GPU,
INT8 only on the CPU; ``auto`` picks a device the precision can run on.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Device(enum.Enum):
    AUTO = "auto"
    CPU = "cpu"
    GPU = "cuda"

    def label(self) -> str:
        return {"auto": "Auto", "cpu": "CPU", "cuda": "GPU (CUDA)"}[self.value]


class Precision(enum.Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"

    def label(self) -> str:
        return self.name


@dataclass(frozen=True)
class Option:
    value: enum.Enum
    enabled: bool
    reason: str = ""  # why it is disabled, for the tooltip


NO_GPU = ("No CUDA GPU is usable here: PyTorch found none (no NVIDIA GPU or driver, or a CPU-only build of "
          "PyTorch). See the Troubleshooting section of the CTDenoise documentation.")


def device_options(cuda_available: bool) -> list[Option]:
    return [Option(Device.AUTO, True), Option(Device.CPU, True),
            Option(Device.GPU, cuda_available, "" if cuda_available else NO_GPU)]


def precision_options(device: Device, cuda_available: bool, model_precisions: tuple[str, ...] | None = None) -> list[Option]:
    """One option per precision, disabled with a reason when it cannot run with this device or model."""
    options = []
    for precision in Precision:
        reason = ""
        if model_precisions is not None and precision.value not in model_precisions:
            reason = f"This model has no {precision.name} version."
        elif precision is Precision.FP16 and device is Device.CPU:
            reason = "FP16 runs only on a CUDA GPU; on the CPU use INT8 (fastest) or FP32."
        elif precision is Precision.FP16 and not cuda_available:
            reason = "FP16 needs a CUDA GPU and none was found; use INT8 or FP32 on the CPU."
        elif precision is Precision.INT8 and device is Device.GPU:
            reason = "INT8 runs only on the CPU; on the GPU use FP16 (fastest) or FP32."
        options.append(Option(precision, not reason, reason))
    return options


def resolve_device(precision: Precision, device: Device, cuda_available: bool) -> str:
    """The device the engine will use, for the status line ("FP16 on the GPU")."""
    if device is not Device.AUTO:
        return device.value
    if precision is Precision.INT8:
        return "cpu"
    return "cuda" if cuda_available else "cpu"


def first_enabled(options: list[Option], current: enum.Enum) -> enum.Enum:
    """Keep the current choice when it is valid, else fall back to the first valid one."""
    enabled = [option.value for option in options if option.enabled]
    if current in enabled or not enabled:
        return current
    return enabled[0]
