"""Where a registered model's INT8 artefact lives and whether it may be used: every INT8 check in one place.

``ctdenoise quantize`` registers three extras with the model: ``int8`` (OpenVINO IR .xml), ``int8-bin`` (its
weights) and ``int8-info`` (JSON saying which FP32 weights it was made from). Each is checksummed by the registry.
"""

from __future__ import annotations

import json

from ..errors import CTDenoiseError
from ..models.files import LoadedModel
from ..models.registry import Artefact, ModelEntry

INT8_KEYS = ("int8", "int8-bin", "int8-info")
QUANTIZE_COMMAND = "ctdenoise quantize --model {name} --calibration CT_VOLUME ..."


def int8_missing(entry: ModelEntry | None) -> str:
    """Empty when the entry has an INT8 artefact; otherwise why not, in words.

    Args:
        entry: the registered model (None for a model that is not registered, e.g. one being trained).
    """
    if entry is None:
        return "the model is not registered"
    if "int8" not in entry.extra or "int8-bin" not in entry.extra:
        return f"model '{entry.name}' has no INT8 artefact (make one with ctdenoise quantize)"
    return ""


def int8_ir(model: LoadedModel) -> tuple[Artefact, Artefact]:
    """The (.xml, .bin) of the model's INT8 artefact, made from exactly the registered weights.

    Args:
        model: a loaded registered model.

    Returns:
        The IR's .xml and .bin artefacts (``read_ir`` verifies their SHA-256 as it reads them).

    Raises:
        CTDenoiseError: no INT8 artefact, or one made from other weights than the registered ones.
    """
    if int8_missing(model.entry):
        raise CTDenoiseError(f"Model '{model.name}' has no INT8 artefact.",
                             "Create it with: " + QUANTIZE_COMMAND.format(name=model.name))
    entry = model.entry
    info = entry.extra.get("int8-info")
    if info is not None:
        made_from = json.loads(info.verified_path().read_text(encoding="utf-8")).get("weights_sha256")
        if made_from != entry.weights.sha256:
            raise CTDenoiseError(f"The INT8 artefact of '{model.name}' was made from other weights than the "
                                 "registered ones.", "Recreate it with: " + QUANTIZE_COMMAND.format(name=model.name))
    return entry.extra["int8"], entry.extra["int8-bin"]
