"""The words the engine's options use, each named once: precision, device, backend, network family, progress
format, and the model a command uses unless told otherwise.

Every command-line ``choices``, the ``models --json`` precisions and the precision rules of ``runtime.backends``
come from these enums; ``models.ARCHITECTURES`` registers one network class per ``Architecture``. Members are
strings (``Precision.INT8 == "int8"``), so option values, JSON and model cards keep plain strings. Light on
purpose (no torch): argument parsers import it.
"""

from __future__ import annotations

import enum

try:
    from enum import StrEnum
except ImportError:  # Python 3.10: the same behaviour, spelled out

    class StrEnum(str, enum.Enum):  # type: ignore[no-redef]
        def __str__(self) -> str:
            return str(self.value)


class Precision(StrEnum):
    """Numeric precision of the network; ``auto`` picks the fastest this machine has (``runtime.precision_auto``)."""

    AUTO = "auto"
    FP32 = "fp32"
    FP16 = "fp16"  # CUDA only
    INT8 = "int8"  # CPU only, an OpenVINO artefact


class Device(StrEnum):
    """Where the network runs; ``auto``: a CUDA GPU when there is one."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class Backend(StrEnum):
    """What executes the network; ``auto``: OpenVINO for INT8 and for FP32 on the CPU when installed."""

    AUTO = "auto"
    TORCH = "torch"
    OPENVINO = "openvino"


class Architecture(StrEnum):
    """The network families (``models.ARCHITECTURES`` registers one class for each, checked at import)."""

    SRRESNET = "srresnet"  # full 3x3x3 convolutions
    STRESNET = "stresnet"  # each 3x3x3 factorised into 1x3x3 + 3x1x1
    STUNET = "stunet"  # STResNet's trunk plus an in-plane multi-scale (U-Net) branch


class ProgressFormat(StrEnum):
    """How a command reports its progress (``--progress``): a text bar for people, JSON lines for programs
    (``events``), or nothing."""

    BAR = "bar"
    JSON = "json"
    NONE = "none"


DEFAULT_MODEL = "stunet"  # the registered model commands denoise with unless told otherwise (a STUNet 16x4)
BASELINE_MODEL = "srresnet"  # the shipped SRResNet-3D that studies compare the default with
PAPER_MODEL = "stresnet"  # the paper's factorised STResNet (16x4), the default until STUNet beat it
SHIPPED_MODELS = (BASELINE_MODEL, PAPER_MODEL, DEFAULT_MODEL)  # what the demo, benchmark and studies run
DEFAULT_ARCHITECTURE = Architecture.STRESNET.value  # what training trains unless told otherwise
CPU_PRECISIONS = (Precision.FP32.value, Precision.INT8.value)  # what the CPU studies compare (battery, detectability)


def choices(vocabulary: type[StrEnum], auto: bool = True) -> tuple[str, ...]:
    """The values of ``vocabulary`` as plain strings, for argparse ``choices`` and messages.

    Args:
        vocabulary: one of the enums of this module.
        auto: include ``"auto"`` (an option value that leaves the choice to the engine).

    Returns:
        The values in declaration order.
    """
    return tuple(member.value for member in vocabulary if auto or member.value != "auto")
