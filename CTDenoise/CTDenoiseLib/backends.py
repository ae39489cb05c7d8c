"""Which precision runs on which device, and the runners that execute a network on one tile.

A runner maps a normalised tile (Z, Y, X) float32 array to the network's output of the same shape; the
tiling and HU handling around it are the same for every precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .errors import CTDenoiseError
from .model_files import LoadedModel

PRECISIONS = ("fp32", "fp16", "int8")
DEVICES = ("auto", "cpu", "cuda")
Runner = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Choice:
    precision: str
    device: str
    note: str = ""


def cuda_available() -> bool:
    return torch.cuda.is_available()


def resolve_choice(precision: str, device: str, has_cuda: bool | None = None) -> Choice:
    """Apply the precision/device rules; ``auto`` picks a valid device and says which."""
    if precision not in PRECISIONS or device not in DEVICES:
        raise CTDenoiseError(f"Unknown precision '{precision}' or device '{device}'.",
                             f"Precision: {', '.join(PRECISIONS)}; device: {', '.join(DEVICES)}.")
    has_cuda = cuda_available() if has_cuda is None else has_cuda
    if device == "cuda" and not has_cuda:
        raise CTDenoiseError("CUDA was requested but no CUDA GPU is usable by this PyTorch build.",
                             "Use --device cpu (or auto), or install a CUDA build of PyTorch.")
    if precision == "fp16":
        if device == "cpu":
            raise CTDenoiseError("FP16 runs only on a CUDA GPU (on CPUs without native FP16 it is many times slower).",
                                 "Use --precision int8 or fp32 on the CPU.")
        if not has_cuda:
            raise CTDenoiseError("FP16 needs a CUDA GPU and none was found.", "Use --precision int8 or fp32 on the CPU.")
        return Choice("fp16", "cuda", "auto: FP16 on CUDA" if device == "auto" else "")
    if precision == "int8":
        if device == "cuda":
            raise CTDenoiseError("INT8 runs only on the CPU.", "Use --precision fp16 or fp32 on the GPU.")
        return Choice("int8", "cpu", "auto: INT8 runs on the CPU" if device == "auto" else "")
    if device == "auto":
        chosen = "cuda" if has_cuda else "cpu"
        return Choice("fp32", chosen, f"auto: FP32 on {chosen.upper()}")
    return Choice("fp32", device)


class TorchRunner:
    """PyTorch eager execution in FP32 (CPU or CUDA) or FP16 weights and activations (CUDA)."""

    def __init__(self, module: torch.nn.Module, device: str, dtype: torch.dtype = torch.float32) -> None:
        self.device, self.dtype = torch.device(device), dtype
        self.module = module.to(self.device, dtype).eval()

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            batch = torch.from_numpy(np.ascontiguousarray(tile))[None, None].to(self.device, self.dtype)
            return self.module(batch)[0, 0].float().cpu().numpy()


def make_runner(model: LoadedModel, choice: Choice) -> Runner:
    if choice.precision == "fp32":
        return TorchRunner(model.module, choice.device)
    if choice.precision == "fp16":
        return TorchRunner(model.module, "cuda", torch.float16)
    raise CTDenoiseError(f"Model '{model.name}' has no INT8 artefact yet.",
                         "Use --precision fp32 on the CPU.")
