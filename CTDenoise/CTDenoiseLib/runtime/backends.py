"""Which precision runs on which device, and the runners that execute a network on one tile.

A runner maps a normalised tile (Z, Y, X) float32 array to the network's output of the same shape; the
tiling and HU handling around it are the same for every precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..errors import CTDenoiseError
from ..models.files import LoadedModel
from ..models.noise_channel import as_batch
from ..vocabulary import Backend, Device, Precision, choices

PRECISIONS = choices(Precision, auto=False)
DEVICES = choices(Device)
Runner = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Choice:
    """A resolved precision and the device it runs on.

    Attributes:
        precision: ``fp32``, ``fp16`` or ``int8`` (never ``auto`` once resolved).
        device: ``cpu`` or ``cuda`` (never ``auto`` once resolved).
        note: a line for the user saying what ``auto`` chose; empty when nothing was chosen automatically.
    """

    precision: str
    device: str
    note: str = ""


def cuda_available() -> bool:
    return torch.cuda.is_available()


def resolve_choice(precision: str, device: str, has_cuda: bool | None = None) -> Choice:
    """Apply the precision/device rules; ``auto`` picks a valid device and says which.

    Args:
        precision: ``fp32``, ``fp16`` or ``int8`` (``auto`` is resolved by ``choose_precision``, not here).
        device: ``auto``, ``cpu`` or ``cuda``.
        has_cuda: whether a CUDA GPU is usable; None asks PyTorch (``cuda_available``).

    Returns:
        The precision and device that will run: FP16 on CUDA, INT8 on the CPU, FP32 on the requested device (on
        ``auto``: CUDA when usable, else the CPU). ``note`` says what ``auto`` chose, empty for an explicit device.

    Raises:
        CTDenoiseError: an unknown precision or device; INT8 on CUDA; CUDA requested but not usable; FP16 on the
            CPU, or FP16 without a CUDA GPU.
    """
    if precision not in PRECISIONS or device not in DEVICES:
        raise CTDenoiseError(f"Unknown precision '{precision}' or device '{device}'.",
                             f"Precision: {', '.join(PRECISIONS)}; device: {', '.join(DEVICES)}.")
    if precision == Precision.INT8 and device == Device.CUDA:  # a rule of the product, whatever this machine has
        raise CTDenoiseError("INT8 runs only on the CPU.", "Use --precision fp16 or fp32 on the GPU.")
    has_cuda = cuda_available() if has_cuda is None else has_cuda
    if device == Device.CUDA and not has_cuda:
        raise CTDenoiseError("CUDA was requested but no CUDA GPU is usable by this PyTorch build.",
                             "Use --device cpu (or auto), or install a CUDA build of PyTorch.")
    if precision == Precision.FP16:
        if device == Device.CPU:
            raise CTDenoiseError("FP16 runs only on a CUDA GPU (on CPUs without native FP16 it is many times slower).",
                                 _cpu_precision_hint())
        if not has_cuda:
            raise CTDenoiseError("FP16 needs a CUDA GPU and none was found.", _cpu_precision_hint())
        return Choice(Precision.FP16, Device.CUDA, "auto: FP16 on CUDA" if device == Device.AUTO else "")
    if precision == Precision.INT8:
        return Choice(Precision.INT8, Device.CPU, "auto: INT8 runs on the CPU" if device == Device.AUTO else "")
    if device == Device.AUTO:
        chosen = Device.CUDA if has_cuda else Device.CPU
        return Choice(Precision.FP32, chosen, f"auto: FP32 on {chosen.upper()}")
    return Choice(Precision.FP32, Device(device))


def _cpu_precision_hint() -> str:
    """What to use on the CPU instead: INT8 only where its runtime (OpenVINO) is installed."""
    from .openvino_backend import openvino_available

    return "Use --precision auto, int8 or fp32 on the CPU." if openvino_available() else \
        "Use --precision auto or fp32 on the CPU."


class TorchRunner:
    """PyTorch eager execution in FP32 (CPU or CUDA) or FP16 weights and activations (CUDA).

    Args:
        module: the network, taking (N, C, Z, Y, X); moved to ``device`` and ``dtype`` and put in eval mode (in
            place). Its ``input_channels`` and ``spatial_multiple`` attributes (default 1) are kept as the runner's.
        device: the PyTorch device, ``cpu`` or ``cuda``.
        dtype: weights' and activations' type, ``torch.float32`` or ``torch.float16``; outputs are float32.
    """

    def __init__(self, module: torch.nn.Module, device: str, dtype: torch.dtype = torch.float32) -> None:
        self.device, self.dtype = torch.device(device), dtype
        self.module = module.to(self.device, dtype).eval()
        self.input_channels = int(getattr(module, "input_channels", 1))
        self.spatial_multiple = int(getattr(module, "spatial_multiple", 1))

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        """The network's output for one tile, as float32 (Z', Y, X).

        Args:
            tile: a normalised (Z, Y, X) tile, or (C, Z, Y, X) with a noise-level channel.
        """
        with torch.inference_mode():
            batch = torch.from_numpy(np.ascontiguousarray(as_batch(tile))).to(self.device, self.dtype)
            return self.module(batch)[0, 0].float().cpu().numpy()


BACKENDS = choices(Backend)


def pick_backend(choice: Choice, backend: str = "auto") -> str:
    """Which engine runs ``choice``: INT8 needs OpenVINO; FP16/CUDA needs PyTorch; FP32 on the CPU takes OpenVINO
    when it is installed (measured 2-4x faster than PyTorch eager here) and PyTorch eager otherwise.

    Args:
        choice: the resolved precision and device.
        backend: ``auto``, ``torch`` or ``openvino``.

    Returns:
        The engine that will run ``choice``: ``torch`` or ``openvino``.

    Raises:
        CTDenoiseError: an unknown backend; INT8 asked of ``torch`` or without OpenVINO installed; ``openvino``
            asked on CUDA, or asked when it is not installed.
    """
    from .openvino_backend import INSTALL_HINT, openvino_available

    if backend not in BACKENDS:
        raise CTDenoiseError(f"Unknown backend '{backend}'.", f"Choose one of: {', '.join(BACKENDS)}.")
    if choice.precision == Precision.INT8:
        if backend == Backend.TORCH:
            raise CTDenoiseError("INT8 runs through OpenVINO, not PyTorch.", "Use --backend openvino (or auto).")
        if not openvino_available():
            raise CTDenoiseError("INT8 needs OpenVINO, which is not installed.", INSTALL_HINT)
        return Backend.OPENVINO
    if choice.device == Device.CUDA:
        if backend == Backend.OPENVINO:
            raise CTDenoiseError("The OpenVINO backend runs on the CPU only.", "Use --backend torch (or auto) on CUDA.")
        return Backend.TORCH
    if backend == Backend.AUTO:
        return Backend.OPENVINO if openvino_available() else Backend.TORCH
    if backend == Backend.OPENVINO and not openvino_available():
        raise CTDenoiseError("The OpenVINO backend is not installed.", INSTALL_HINT)
    return Backend(backend)


def make_runner(model: LoadedModel, choice: Choice, backend: str = "auto") -> Runner:
    """The runner for ``choice``; ``backend`` as in ``pick_backend`` (``torch`` gives the PyTorch eager reference).

    Args:
        model: a loaded model.
        choice: the resolved precision and device.
        backend: ``auto``, ``torch`` or ``openvino``.

    Returns:
        A runner from a normalised tile to the network's output (see the module's docstring).

    Raises:
        CTDenoiseError: the backend cannot run ``choice``, or INT8 is asked of a model without a valid artefact.
    """
    return runner_for(model, choice, pick_backend(choice, backend))


def runner_for(model: LoadedModel, choice: Choice, engine: str) -> Runner:
    """``make_runner`` for a backend ``pick_backend`` already chose (``torch`` or ``openvino``), not chosen again.

    Args:
        model: a loaded model.
        choice: the resolved precision and device.
        engine: the backend ``pick_backend`` returned for ``choice``.

    Returns:
        A ``TorchRunner`` for ``torch``; for ``openvino`` an ``OpenVINORunner`` of the network converted now (FP32)
        or of the model's INT8 IR artefact.

    Raises:
        CTDenoiseError: INT8 is asked of a model without a valid artefact.
    """
    if engine == Backend.TORCH:
        dtype = torch.float16 if choice.precision == Precision.FP16 else torch.float32
        return TorchRunner(model.module, choice.device, dtype)
    from .openvino_backend import OpenVINORunner, convert_module, read_ir

    multiple = int(getattr(model.module, "spatial_multiple", 1))
    if choice.precision == Precision.FP32:
        return OpenVINORunner(convert_module(model.module), spatial_multiple=multiple)
    from .int8_artefact import int8_ir

    return OpenVINORunner(read_ir(*int8_ir(model)), spatial_multiple=multiple)


def describe_runner(choice: Choice, backend: str) -> str:
    """How the engine runs, for the user: e.g. ``FP32 on CPU via OpenVINO``.

    Args:
        choice: the resolved precision and device.
        backend: the engine ``pick_backend`` chose, ``torch`` or ``openvino`` (not ``auto``).

    Returns:
        The precision, device and engine in words.
    """
    names = {Backend.TORCH: "PyTorch eager", Backend.OPENVINO: "OpenVINO"}
    return f"{choice.precision.upper()} on {choice.device.upper()} via {names[backend]}"
