"""Which precision can run on which device, with the reason shown as a tooltip on a disabled choice.

The same rules as the engine's ``--precision``/``--device`` check: FP32 on CPU or GPU, FP16 only on a CUDA GPU,
INT8 only on the CPU. ``auto`` (the default) leaves the choice to the engine, which takes the fastest path for
the machine and says which; ``predict_auto`` tells the panel what that will most likely be, before the run.
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
    AUTO = "auto"
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"

    def label(self) -> str:
        return "Auto (fastest here)" if self is Precision.AUTO else self.name


@dataclass(frozen=True)
class Option:
    value: enum.Enum
    enabled: bool
    reason: str = ""  # why it is disabled, for the tooltip


@dataclass(frozen=True)
class ExecutionPath:
    """What the engine runs: ``precision`` in fp32/fp16/int8, ``device`` cpu/cuda, ``engine`` torch/openvino."""

    precision: str
    device: str
    engine: str

    def describe(self) -> str:
        engine = {"torch": "PyTorch", "openvino": "OpenVINO"}[self.engine]
        return f"{self.precision.upper()} on the {'GPU' if self.device == 'cuda' else 'CPU'} ({engine})"


NO_GPU = ("No CUDA GPU is usable here: PyTorch found none (no NVIDIA GPU or driver, or a CPU-only build of "
          "PyTorch). See the Troubleshooting section of the CTDenoise documentation.")
NO_OPENVINO = "INT8 needs the OpenVINO runtime: use 'Install dependencies'."


def device_options(cuda_available: bool) -> list[Option]:
    return [Option(Device.AUTO, True), Option(Device.CPU, True),
            Option(Device.GPU, cuda_available, "" if cuda_available else NO_GPU)]


def precision_options(device: Device, cuda_available: bool, model_precisions: tuple[str, ...] | None = None,
                      openvino: bool = True) -> list[Option]:
    """One option per precision (in the enum's order, as the combo box lists them), disabled with a reason when
    it cannot run with this device or model.

    Args:
        device: the chosen device.
        cuda_available: PyTorch sees a CUDA GPU.
        model_precisions: the model's precisions; None when unknown.
        openvino: the OpenVINO runtime is installed (INT8 needs it).
    """
    options = []
    for precision in Precision:
        reason = ""
        if precision is Precision.AUTO:
            pass  # the engine always finds a path
        elif model_precisions is not None and precision.value not in model_precisions:
            reason = f"This model has no {precision.name} version."
        elif precision is Precision.FP16 and device is Device.CPU:
            reason = "FP16 runs only on a CUDA GPU; on the CPU use INT8 (fastest) or FP32."
        elif precision is Precision.FP16 and not cuda_available:
            reason = "FP16 needs a CUDA GPU and none was found; use INT8 or FP32 on the CPU."
        elif precision is Precision.INT8 and device is Device.GPU:
            reason = "INT8 runs only on the CPU; on the GPU use FP16 (fastest) or FP32."
        elif precision is Precision.INT8 and not openvino:
            reason = NO_OPENVINO
        options.append(Option(precision, not reason, reason))
    return options


def resolve_device(precision: Precision, device: Device, cuda_available: bool) -> str:
    """The device the engine will use, for the status line ("FP16 on the GPU")."""
    if device is not Device.AUTO:
        return device.value
    if precision is Precision.INT8:
        return "cpu"
    return "cuda" if cuda_available else "cpu"


def predict_path(precision: Precision, device: Device, cuda_available: bool, openvino: bool,
                 model_precisions: tuple[str, ...] | None = None, int8_fast_cpu: bool = True) -> ExecutionPath:
    """What the engine will most likely run. For ``auto`` the engine decides (and says so when it starts) by the
    same rule: FP16 on a CUDA GPU; INT8 through OpenVINO on a CPU with INT8 dot-product instructions (VNNI,
    AMX), where it was measured faster; FP32 otherwise (through OpenVINO when it is installed).

    Args:
        precision: the chosen precision.
        device: the chosen device.
        cuda_available: PyTorch sees a CUDA GPU.
        openvino: the OpenVINO runtime is installed.
        model_precisions: the model's precisions; None when unknown.
        int8_fast_cpu: the CPU reports VNNI or AMX INT8 instructions.
    """
    def has(name: str) -> bool:
        return model_precisions is None or name in model_precisions

    where = resolve_device(precision, device, cuda_available)
    if precision is Precision.AUTO:
        if where == "cuda":
            chosen = "fp16"
        else:
            chosen = "int8" if openvino and int8_fast_cpu and has("int8") else "fp32"
    else:
        chosen = precision.value
    engine = "openvino" if where == "cpu" and openvino and chosen in ("fp32", "int8") else "torch"
    return ExecutionPath(chosen, where, engine)


def first_enabled(options: list[Option], current: enum.Enum) -> enum.Enum:
    """Keep the current choice when it is valid, else fall back to the first valid one."""
    enabled = [option.value for option in options if option.enabled]
    if current in enabled or not enabled:
        return current
    return enabled[0]


@dataclass(frozen=True)
class Choices:
    device: Device
    precision: Precision
    device_options: list[Option]
    precision_options: list[Option]


def reconcile(device: Device, precision: Precision, environment_known: bool, cuda_available: bool,
              openvino: bool, model_precisions: tuple[str, ...] | None = None) -> Choices:
    """The options to show and the device/precision to keep. Before the environment probe has answered nothing
    is known to be impossible, so a saved choice (GPU, FP16) is kept as it is rather than reset to Auto.

    Args:
        device: the saved device.
        precision: the saved precision.
        environment_known: the probe has answered.
        cuda_available: PyTorch sees a CUDA GPU (ignored until known).
        openvino: the OpenVINO runtime is installed (ignored until known).
        model_precisions: the model's precisions; None when unknown.
    """
    if not environment_known:
        cuda_available, openvino = True, True
    devices = device_options(cuda_available)
    kept_device = first_enabled(devices, device)
    precisions = precision_options(kept_device, cuda_available, model_precisions, openvino)
    return Choices(kept_device, first_enabled(precisions, precision), devices, precisions)
