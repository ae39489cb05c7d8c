"""Helpers for the precision, INT8, batch and benchmark tests: tiny registered models and small real CT crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from conftest import shared_path as real_ct  # noqa: F401  (re-exported: one skip rule for ../shared)


def write_crop(source: Path, target: Path, z: slice, y: slice, x: slice) -> Path:
    from CTDenoiseLib.io.volumes import Volume, read_volume, write_volume

    volume = read_volume(source)
    array = np.ascontiguousarray(volume.array[z, y, x])
    return write_volume(Volume(array, volume.spacing, volume.origin, volume.direction), target)


def register_tiny_models(folder: Path, names: tuple[str, ...] = ("srresnet", "stresnet"),
                         features: int = 4, blocks: int = 1) -> Path:
    """Register untrained tiny networks under the shipped names in ``folder`` (use with CTDENOISE_MODEL_DIRS)."""
    import torch

    from CTDenoiseLib.hu import HUNormalization
    from CTDenoiseLib.models import ModelConfig, build_model
    from CTDenoiseLib.models.files import save_model
    from CTDenoiseLib.models.registry import register_model

    torch.manual_seed(0)
    for name in names:
        config = ModelConfig(name.split("-")[0], features, blocks)
        module = build_model(config)
        with torch.no_grad():
            for parameter in module.parameters():
                parameter.mul_(0.3)  # stay near the identity: outputs remain CT-like
        card = {"hu_normalization": HUNormalization().to_dict(), "inference": {"halo": 4}}
        weights, card_path = save_model(module, config, card, folder, name)
        register_model(folder, name, weights, card_path)
    return folder
