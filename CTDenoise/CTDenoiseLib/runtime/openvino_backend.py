"""OpenVINO execution of a denoising network on the CPU (FP32 converted at load time, or an INT8 IR artefact).

OpenVINO is a base dependency (since the default install should have the fast path); everything here imports it
lazily and says how to install it when it is missing (a hand-made environment). A compiled model is specialised
to one static tile shape (compiling takes about 0.1-0.2 s here; on a small real crop static and dynamic shapes
ran equally fast once compiled, so static shapes are kept for OpenVINO's per-shape kernel choice). A volume's
tiles have one shape (``inference.tiling``); compiled models are still cached per shape (least recently used, a
few at most, since each keeps its own buffers) for callers that give other tiles.
IR files are read from bytes whose SHA-256 was checked, never from a path that could change after the check.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CTDenoiseError
from ..models.noise_channel import as_batch
from ..models.registry import Artefact, sha256_of

INSTALL_HINT = ('OpenVINO is a dependency of ctdenoise but is missing here; install it with: '
                'pip install "openvino>=2026.0"')
MAX_COMPILED_SHAPES = 4


def import_openvino() -> Any:
    try:
        import openvino
    except ImportError as error:
        raise CTDenoiseError(f"OpenVINO is not installed ({error}).", INSTALL_HINT) from error
    return openvino


def openvino_available() -> bool:
    try:
        import_openvino()
    except CTDenoiseError:
        return False
    return True


def dynamic_input_shape(channels: int = 1) -> Any:
    """The input shape of a converted network: one volume, ``channels`` channels, Z, Y and X free.

    Args:
        channels: the network's input channels (1: a blind network, 2: image and noise level).

    Returns:
        The OpenVINO ``PartialShape`` ``[1, channels, -1, -1, -1]``.
    """
    return import_openvino().PartialShape([1, channels, -1, -1, -1])


def model_input_channels(model: Any) -> int:
    """Input channels of an OpenVINO model of one of our networks (2: image and noise level).

    Args:
        model: an OpenVINO model whose first input is (N, C, Z, Y, X) with a static C.

    Returns:
        C, the length of the first input's second dimension.
    """
    return int(model.inputs[0].get_partial_shape()[1].get_length())


def convert_module(module: torch.nn.Module) -> Any:
    """Trace a (N, C, Z, Y, X) network into an OpenVINO model with free Z, Y, X (a small example keeps it fast).

    Args:
        module: the network; moved to the CPU in float32 and put in eval mode (in place). Its ``input_channels``
            attribute (default 1) gives C.

    Returns:
        The OpenVINO model (not compiled), input shape ``[1, C, -1, -1, -1]``.
    """
    ov = import_openvino()
    module = module.to("cpu", torch.float32).eval()
    channels = int(getattr(module, "input_channels", 1))
    with torch.no_grad():
        return ov.convert_model(module, example_input=torch.zeros(1, channels, 8, 32, 32),
                                input=[dynamic_input_shape(channels)])


def _verified_bytes(artefact: Artefact) -> bytes:
    artefact.verified_path()  # clear messages for a missing or replaced file
    data = artefact.path.read_bytes()
    import hashlib

    if hashlib.sha256(data).hexdigest() != artefact.sha256:
        raise CTDenoiseError(f"'{artefact.path.name}' changed while it was being read.", "Retry; it was not loaded.")
    return data


def read_ir(xml: Artefact, weights: Artefact) -> Any:
    """Read an OpenVINO IR (.xml + .bin) after verifying the SHA-256 of both files.

    Args:
        xml: the IR's .xml file with its expected SHA-256.
        weights: the IR's .bin file with its expected SHA-256.

    Returns:
        The OpenVINO model (not compiled), read from the verified bytes.

    Raises:
        CTDenoiseError: a file is missing, its SHA-256 differs from the expected one, or it changed while it was
            being read.
    """
    ov = import_openvino()
    xml_bytes, bin_bytes = _verified_bytes(xml), _verified_bytes(weights)
    tensor = ov.Tensor(np.frombuffer(bin_bytes, dtype=np.uint8).copy())
    return ov.Core().read_model(model=xml_bytes.decode("utf-8"), weights=tensor)


def write_ir(model: Any, xml_path: Path) -> tuple[Path, Path]:
    """Save ``model`` as ``xml_path`` + ``.bin`` (weights stored as they are: no FP16 compression of FP32).

    Args:
        model: an OpenVINO model of one of our networks; its input is reshaped (in place) to free Z, Y, X first.
        xml_path: where the .xml goes; the .bin is written beside it with the same stem.

    Returns:
        The paths of the .xml and the .bin.
    """
    ov = import_openvino()
    model.reshape({model.inputs[0]: dynamic_input_shape(model_input_channels(model))})
    ov.save_model(model, str(xml_path), compress_to_fp16=False)
    return xml_path, xml_path.with_suffix(".bin")


def ir_checksums(xml_path: Path) -> dict[str, str]:
    """The SHA-256 of an IR's two files.

    Args:
        xml_path: the IR's .xml; its .bin is beside it with the same stem.

    Returns:
        File name (without folder) to SHA-256 (lower-case hex), for the .xml and the .bin.
    """
    return {path.name: sha256_of(path) for path in (xml_path, xml_path.with_suffix(".bin"))}


class OpenVINORunner:
    """Runs an OpenVINO model on one normalised (Z, Y, X) tile at a time; FP32 (``precision_hint='f32'``) or as the
    IR says (an NNCF INT8 IR runs its quantized convolutions in INT8, with VNNI where the CPU has it).

    Args:
        model: the OpenVINO model (``convert_module`` or ``read_ir``), input (1, C, Z, Y, X); compiled for the CPU
            once per tile shape.
        threads: CPU inference threads; None (or 0) takes PyTorch's ``torch.get_num_threads()``.
        max_shapes: how many compiled tile shapes are kept (least recently used dropped first).
        spatial_multiple: what the network's in-plane sides must divide by (the engine pads tiles to it; a
            compiled graph cannot pad itself).
    """

    def __init__(self, model: Any, threads: int | None = None, max_shapes: int = MAX_COMPILED_SHAPES,
                 spatial_multiple: int = 1) -> None:
        self.ov = import_openvino()
        self.core = self.ov.Core()
        self.model = model
        self.config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY",
                       "INFERENCE_NUM_THREADS": int(threads or torch.get_num_threads())}
        self.max_shapes = max_shapes
        self.compiled: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self.input_channels = model_input_channels(model)
        self.spatial_multiple = spatial_multiple

    def _compiled_for(self, shape: tuple[int, ...]) -> Any:
        if shape in self.compiled:
            self.compiled.move_to_end(shape)
            return self.compiled[shape]
        static = self.model.clone()
        static.reshape({static.inputs[0]: self.ov.PartialShape(list(shape))})
        compiled = self.core.compile_model(static, "CPU", self.config)
        self.compiled[shape] = compiled
        if len(self.compiled) > self.max_shapes:
            self.compiled.popitem(last=False)
        return compiled

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        """The network's output for one tile (compiled once per tile shape).

        Args:
            tile: a normalised (Z, Y, X) tile, or (C, Z, Y, X) with a noise-level channel.
        """
        batch = np.ascontiguousarray(as_batch(tile), dtype=np.float32)
        compiled = self._compiled_for(batch.shape)
        return np.asarray(compiled(batch)[0])[0, 0]
