"""Choose a noise-conditioned model's ``noise_level_gain`` on validation volumes.

A noise-conditioned network is told its input's noise level, estimated without a reference. Trained on simulated
noise, it can still under-correct noise of another texture (coarser grain after a soft kernel, thick slices or
fine pixels) at the level the estimator reports; telling it a multiple of that level makes it work harder. The
multiple is a property of the trained model, so it is chosen once, after training, on volumes neither the
training nor the battery scores (the training run's validation volumes), and stored in the model card.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from ..errors import CTDenoiseError
from ..models.noise_level_gain import NoiseLevelGain
from ..vocabulary import Device, Precision
from .battery import BATTERY_TILE_VOXELS, score, simulated_scenes
from .battery_grid import Grid

NOISE_LEVEL_GAINS = (1.0, 1.25, 1.4, 1.6, 2.0)


def takes_noise_level(model: str) -> bool:
    """Whether a registered model is noise-conditioned (its card's ``config.noise_input``).

    Args:
        model: the registered model's name.
    """
    from ..models import ModelConfig
    from ..models.registry import find_model

    return ModelConfig.from_dict(find_model(model).read_card().get("config", {})).noise_input


def tune_noise_level_gain(grid: Grid, model: str, gains: tuple[float, ...] = NOISE_LEVEL_GAINS,
                          log: Callable[[str], None] = print) -> tuple[float, list[dict]]:
    """The gain with the best mean body PSNR over ``grid``'s simulated cells, FP32 on the CPU.

    Args:
        grid: the tuning conditions (validation volumes: never the battery's cases, never training volumes).
        model: a registered noise-conditioned model.
        gains: the candidates; each replaces the card's own gain.
        log: where a line per candidate goes.

    Returns:
        The best gain and one row per candidate (``model``, ``noise_level_gain``, ``mean_psnr_db``,
        ``worst_gain_db``: the smallest gain over the low dose of any cell).

    Raises:
        CTDenoiseError: the model is blind (it takes no noise level).
    """
    from ..inference.pipeline import prepare_engine

    if not takes_noise_level(model):
        raise CTDenoiseError(f"Model '{model}' is blind: it takes no noise level, so it has no gain to tune.",
                             "Give a noise-conditioned model (its card's config says \"noise_input\": true).")
    engine = prepare_engine(model, Precision.FP32, Device.CPU)
    scenes = simulated_scenes(grid)
    lows = [score(scene, scene.low)["psnr_db"] for scene in scenes]
    rows = []
    for gain in gains:
        told = replace(engine, loaded=replace(engine.loaded, noise_level_gain=NoiseLevelGain.constant(gain)))
        psnrs = [score(scene, told.denoise(scene.low, BATTERY_TILE_VOXELS))["psnr_db"] for scene in scenes]
        rows.append({"model": model, "noise_level_gain": gain, "mean_psnr_db": float(np.mean(psnrs)),
                     "worst_gain_db": float(np.min(np.subtract(psnrs, lows)))})
        log(f"{model} noise level gain {gain:g}: {rows[-1]['mean_psnr_db']:.2f} dB mean, "
            f"worst cell {rows[-1]['worst_gain_db']:+.2f} dB over the low dose")
    best = max(rows, key=lambda row: row["mean_psnr_db"])
    return float(best["noise_level_gain"]), rows
