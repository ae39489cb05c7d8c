"""The noise-level input of a noise-conditioned network (FFDNet-style, Zhang et al. 2018).

A blind network learns one mapping for every noise level it was trained on: trained down to strong noise, it also
removes what looks like that noise (thin vessels) from a quiet scan; trained on one level, it under-corrects a
noisier one. A noise-conditioned network gets the input's noise level as a second channel and can learn to do
less on quiet scans and more on noisy ones, as non-local means does with its strength tied to the noise. The level
is the engine's reference-free estimate (``noise.estimate``), in units of ``UNIT_HU``: of the whole volume (the
channel is constant), or of each slice (a noise map constant within each slice; exposure control makes the noise
change along z), as the model card's ``inference.noise_map`` says and as it was trained (the patch's own noise,
whole or per slice). ``inference.tiled.denoise_hu`` builds the channel for each tile.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

UNIT_HU = 100.0  # channel value 1.0 means a noise standard deviation of 100 HU
FALLBACK_STD_HU = 50.0  # when the volume has no flat soft tissue to measure (a lung crop): a mid-range level

Runner = Callable[[np.ndarray], np.ndarray]


def input_channels(run: Runner) -> int:
    """1 for a blind network's runner, 2 for a noise-conditioned one (image, noise level).

    Args:
        run: a runner (its ``input_channels`` attribute; none: 1).
    """
    return int(getattr(run, "input_channels", 1))


def noise_conditioned(run: Runner) -> bool:
    """Whether the runner's network is told its input's noise level (a second input channel).

    Args:
        run: a runner.
    """
    return input_channels(run) == 2


def channel_value(std_hu: float | np.ndarray | None, gain: float = 1.0) -> float | np.ndarray:
    """The noise channel's value for a noise standard deviation in HU (the fallback where it is unknown).

    Args:
        std_hu: estimated noise standard deviation of the input (HU), or an array of them (one per slice); None
            or nan when unknown.
        gain: the network is told this multiple of the level (the model card's ``noise_level_gain``).

    Returns:
        One value, or an array of ``std_hu``'s shape.
    """
    if std_hu is not None and np.ndim(std_hu) > 0:
        levels = np.asarray(std_hu, dtype=np.float64)
        return gain * np.where(np.isfinite(levels) & (levels > 0), levels, FALLBACK_STD_HU) / UNIT_HU
    if std_hu is None or not np.isfinite(std_hu) or std_hu <= 0:
        std_hu = FALLBACK_STD_HU
    return gain * float(std_hu) / UNIT_HU


def as_batch(tile: np.ndarray) -> np.ndarray:
    """(Z, Y, X) -> (1, 1, Z, Y, X); (C, Z, Y, X) -> (1, C, Z, Y, X)."""
    return tile[None, None] if tile.ndim == 3 else tile[None]
