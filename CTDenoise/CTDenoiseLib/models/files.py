"""The two-file model format: weights in safetensors, everything else in a JSON model card."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import CTDenoiseError
from ..hu import HUNormalization
from ..io.atomic import atomic_write, write_text_atomic
from ..io.file_modes import apply_default_mode
from . import ModelConfig, build_model, macs_per_voxel, parameter_count, receptive_field_radius
from .noise_level_gain import NoiseLevelGain
from .noise_level_gain import from_card as noise_level_gain_from_card
from .registry import ModelEntry, find_model

DEFAULT_HALO = 8


@dataclass
class LoadedModel:
    """A model ready to run: the network in eval mode and what inference needs from its card.

    Attributes:
        name: the model's registered name.
        module: the network, weights loaded, in eval mode.
        config: the architecture, from the card's ``config``.
        normalization: the HU normalisation the network was trained with (the card's ``hu_normalization``).
        halo: tile overlap in voxels (the card's ``inference.halo``, else ``DEFAULT_HALO``): one number for every
            axis, or (z, y, x).
        card: the whole model card.
        entry: the registry entry it was loaded from.
        noise_level_gain: a noise-conditioned network is told this multiple of its input's estimated noise level,
            one number or one per noise grain (the card's ``inference.noise_level_gain``, else 1; see
            ``noise_level_gain``).
        noise_map: how a noise-conditioned network is told the level: ``volume`` (one estimate for the whole
            volume) or ``slice`` (each slice's own estimate), as it was trained (the card's ``inference.noise_map``,
            else ``volume``).
    """

    name: str
    module: nn.Module
    config: ModelConfig
    normalization: HUNormalization
    halo: int | tuple[int, int, int]
    card: dict
    entry: ModelEntry | None = None
    noise_level_gain: NoiseLevelGain = NoiseLevelGain()
    noise_map: str = "volume"


def describe(module: nn.Module) -> dict:
    """Size facts stored in every card.

    Args:
        module: the network.

    Returns:
        ``parameters`` (count), ``macs_per_voxel`` (multiply-accumulates per output voxel) and
        ``receptive_field_radius_zyx`` (voxels on each side of an output voxel that can influence it).
    """
    return {"parameters": parameter_count(module), "macs_per_voxel": macs_per_voxel(module),
            "receptive_field_radius_zyx": list(receptive_field_radius(module))}


def load_model(name: str | ModelEntry) -> LoadedModel:
    """Load a registered model after verifying the SHA-256 of its card and weights.

    Args:
        name: the registered name (looked up with ``find_model``), or the registry entry itself.

    Returns:
        The network in eval mode with its configuration, HU normalisation, halo and card.

    Raises:
        CTDenoiseError: the weights' tensor names or shapes do not match the network the card's configuration
            builds.
    """
    entry = name if isinstance(name, ModelEntry) else find_model(name)
    card = entry.read_card()
    config = ModelConfig.from_dict(card.get("config", {}))
    module = build_model(config)
    state = load_file(str(entry.weights.verified_path()))
    expected = module.state_dict()
    if set(state) != set(expected) or any(state[key].shape != expected[key].shape for key in expected):
        raise CTDenoiseError(f"Weights of '{entry.name}' do not match its card's configuration {config}.",
                             "Re-export the model; card and weights come from different runs.")
    module.load_state_dict(state)
    module.eval()
    inference = card.get("inference", {})
    return LoadedModel(name=entry.name, module=module, config=config,
                       normalization=HUNormalization.from_dict(card["hu_normalization"]),
                       halo=card_halo(inference.get("halo", DEFAULT_HALO)), card=card, entry=entry,
                       noise_level_gain=noise_level_gain_from_card(inference, entry.name),
                       noise_map=card_noise_map(inference.get("noise_map", "volume"), entry.name))


def card_halo(value: object) -> int | tuple[int, int, int]:
    """A card's ``inference.halo``: one number of voxels for every axis, or a list (z, y, x).

    Raises:
        CTDenoiseError: neither.
    """
    try:
        if isinstance(value, (list, tuple)):
            halo = tuple(int(v) for v in value)
            if len(halo) == 3 and min(halo) >= 0:
                return halo  # type: ignore[return-value]
        elif int(value) >= 0:  # type: ignore[call-overload]
            return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        pass
    raise CTDenoiseError(f"The model card's inference.halo {value!r} is not a number of voxels or a (z, y, x) list.",
                         "Re-export the model.")


NOISE_MAPS = ("volume", "slice")


def card_noise_map(value: object, name: str) -> str:
    """A card's ``inference.noise_map``: ``volume`` or ``slice``.

    Raises:
        CTDenoiseError: anything else.
    """
    if value not in NOISE_MAPS:
        raise CTDenoiseError(f"Model '{name}' says its noise map is {value!r}.",
                             f"The card's inference.noise_map must be one of: {', '.join(NOISE_MAPS)}.")
    return str(value)


def save_model(module: nn.Module, config: ModelConfig, card: dict, folder: Path, stem: str) -> tuple[Path, Path]:
    """Write ``stem.safetensors`` and ``stem.card.json`` into ``folder`` (each atomically).

    The weights are stored as float32 on the CPU; the card written is ``card`` with ``config`` and the size facts
    of ``describe`` added. Neither file is registered (see ``registry.register_model``).

    Args:
        module: the network whose ``state_dict`` is saved.
        config: its architecture configuration.
        card: the card's other content (e.g. ``hu_normalization``, ``inference``).
        folder: where to write; created if missing.
        stem: the files' common name.

    Returns:
        The paths of the weights file and of the card.
    """
    folder.mkdir(parents=True, exist_ok=True)
    weights, card_path = folder / f"{stem}.safetensors", folder / f"{stem}.card.json"
    state = {key: value.detach().to("cpu", torch.float32).contiguous() for key, value in module.state_dict().items()}
    with atomic_write(weights) as partial:
        save_file(state, str(partial), metadata={"format": "pt", "architecture": config.architecture})
        apply_default_mode(partial)
    full_card = {**card, "config": config.to_dict(), **describe(module)}
    write_text_atomic(card_path, json.dumps(full_card, indent=2) + "\n")
    return weights, card_path
