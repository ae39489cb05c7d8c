"""``--init-from``: start a run from a registered model (checksum verified), grown into this run's network."""

from __future__ import annotations

import torch

from CTDenoiseLib.hu import HUNormalization
from CTDenoiseLib.models.files import LoadedModel, load_model

from .config import TrainConfig
from .grow import can_grow, grow_into


def model_to_fine_tune(config: TrainConfig, normalization: HUNormalization) -> LoadedModel:
    """The registered model named by ``init_from`` (SHA-256 verified), checked to be this run's network or one
    that ``grow`` can widen and deepen into it.

    Args:
        config: the run's configuration (``init_from`` and the network it trains).
        normalization: the HU normalisation training uses; the model's must be the same.
    """
    source = load_model(config.init_from)
    wanted = config.model_config()
    if not can_grow(source.config, wanted):
        raise ValueError(f"--init-from {config.init_from} is {source.config}, but this run trains {wanted}: "
                         "give the same --architecture and --z-upscale and at least its --features and --blocks")
    if source.normalization != normalization:
        raise ValueError(f"--init-from {config.init_from} normalises HU as {source.normalization}, training uses "
                         f"{normalization}")
    return source


def initialise_from(model: torch.nn.Module, source: LoadedModel) -> dict:
    """Start ``model`` as the source model computes (``grow``: same weights, or a wider/deeper network or an added
    noise-level input that starts unused); returns the provenance recorded in the new card.

    Args:
        model: the network this run trains.
        source: the registered model (``model_to_fine_tune``).
    """
    grow_into(model, source.module.state_dict())
    training = source.card.get("training", {})
    return {"model": source.name, "weights_sha256": source.entry.weights.sha256 if source.entry else None,
            "steps": training.get("steps"), "command": training.get("command"),
            "validation": source.card.get("metrics", {}).get("validation"),
            "size": f"{source.config.features}x{source.config.blocks}"}
