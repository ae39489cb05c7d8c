"""The networks offered in the Model selector, read from ``ctdenoise models --json``."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .device_options import Precision

TITLES = {"stresnet": "STResNet", "srresnet": "SRResNet", "stresnet-am": "STResNet (activation-map fine-tuned)"}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    architecture: str
    precisions: tuple[str, ...]
    summary: str = ""

    @property
    def title(self) -> str:
        return TITLES.get(self.name, self.name)


# Every precision a model can have (the engine's ``models --json`` lists those that run on this machine).
PRECISIONS = tuple(precision.value for precision in Precision if precision is not Precision.AUTO)

# Shown until the engine has answered (or when it cannot: torch not yet installed).
BUILTIN_MODELS = (
    ModelInfo("stresnet", "stresnet", PRECISIONS, "STResNet (default): fast, for CPU or GPU."),
    ModelInfo("srresnet", "srresnet", PRECISIONS, "SRResNet-3D: the slower reference network."),
)


def parse_models_json(text: str) -> list[ModelInfo]:
    """Models from the engine's JSON; the default network first. Raises ValueError on malformed output."""
    data = json.loads(text)
    records = data.get("models") if isinstance(data, dict) else None
    if not isinstance(records, list):
        raise ValueError("'models --json' did not print a {\"models\": [...]} object")
    models = [ModelInfo(str(r["name"]), str(r.get("architecture", "")),
                        tuple(r.get("precisions", (Precision.FP32.value,))),
                        str(r.get("summary", ""))) for r in records]
    return sorted(models, key=lambda m: (m.name != "stresnet", m.name != "srresnet", m.name))


def find(models: list[ModelInfo] | tuple[ModelInfo, ...], name: str) -> ModelInfo | None:
    return next((model for model in models if model.name == name), None)
