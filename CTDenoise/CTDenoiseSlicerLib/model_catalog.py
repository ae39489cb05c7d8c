"""The networks offered in the Model selector, read from ``ctdenoise models --json``."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .device_options import Precision

# The engine's default (its vocabulary.DEFAULT_MODEL, also sent by `models --json`); shown until the engine answers.
DEFAULT_MODEL = "stunet"
BASELINE_MODEL = "srresnet"  # the seed's reference network, listed second
PAPER_MODEL = "stresnet"  # the paper's factorised network, the default until STUNet
TITLES = {"stresnet": "STResNet", "srresnet": "SRResNet", "stresnet-am": "STResNet (activation-map fine-tuned)",
          "stunet": "STUNet"}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    architecture: str
    precisions: tuple[str, ...]
    summary: str = ""
    default: bool = False  # the network the engine denoises with unless told otherwise

    @property
    def title(self) -> str:
        return TITLES.get(self.name, self.name)


# Every precision a model can have (the engine's ``models --json`` lists those that run on this machine).
PRECISIONS = tuple(precision.value for precision in Precision if precision is not Precision.AUTO)

# Shown until the engine has answered (or when it cannot: torch not yet installed).
BUILTIN_MODELS = (
    ModelInfo(DEFAULT_MODEL, DEFAULT_MODEL, PRECISIONS,
              "STUNet (default): STResNet with a coarse in-plane branch; sees 41 pixels in-plane.", default=True),
    ModelInfo(BASELINE_MODEL, BASELINE_MODEL, PRECISIONS, "SRResNet-3D: the slower reference network."),
    ModelInfo(PAPER_MODEL, PAPER_MODEL, PRECISIONS, "STResNet: the paper's factorised network, a little faster."),
)


def parse_models_json(text: str) -> list[ModelInfo]:
    """Models from the engine's JSON; the engine's default network first, then the baseline, then by name.

    Args:
        text: what ``ctdenoise models --json`` printed; its ``default`` names the default network (an engine too
            old to say is taken to have ``DEFAULT_MODEL``).

    Raises:
        ValueError: on output that is not a ``{"models": [...]}`` object.
    """
    data = json.loads(text)
    records = data.get("models") if isinstance(data, dict) else None
    if not isinstance(records, list):
        raise ValueError("'models --json' did not print a {\"models\": [...]} object")
    default = str(data.get("default", DEFAULT_MODEL))
    models = [ModelInfo(str(r["name"]), str(r.get("architecture", "")),
                        tuple(r.get("precisions", (Precision.FP32.value,))),
                        str(r.get("summary", "")), default=str(r["name"]) == default) for r in records]
    return sorted(models, key=lambda m: (not m.default, m.name != BASELINE_MODEL, m.name))


def default_model(models: list[ModelInfo] | tuple[ModelInfo, ...]) -> str:
    """The name of the default network among ``models`` (``DEFAULT_MODEL`` when none is marked).

    Args:
        models: the listed models.
    """
    return next((model.name for model in models if model.default), DEFAULT_MODEL)


def find(models: list[ModelInfo] | tuple[ModelInfo, ...], name: str) -> ModelInfo | None:
    return next((model for model in models if model.name == name), None)
