"""The noise-level input of a noise-conditioned network (FFDNet-style, Zhang et al. 2018).

A blind network learns one mapping for every noise level it was trained on: trained down to strong noise, it also
removes what looks like that noise (thin vessels) from a quiet scan; trained on one level, it under-corrects a
noisier one. A noise-conditioned network gets the input's noise level as a second, constant channel and can
learn to do less on quiet scans and more on noisy ones, as non-local means does with its strength tied to the
noise. The level is the engine's reference-free estimate (``noise_estimate``) of the whole volume, in units of
``UNIT_HU``, the same at training (the patch's own noise) and at inference.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

UNIT_HU = 100.0  # channel value 1.0 means a noise standard deviation of 100 HU
FALLBACK_STD_HU = 50.0  # when the volume has no flat soft tissue to measure (a lung crop): a mid-range level

Runner = Callable[[np.ndarray], np.ndarray]


def input_channels(run: Runner) -> int:
    """1 for a blind network's runner, 2 for a noise-conditioned one (image, noise level)."""
    return int(getattr(run, "input_channels", 1))


def channel_value(std_hu: float | None, gain: float = 1.0) -> float:
    """The noise channel's value for a noise standard deviation in HU (the fallback where it is unknown).

    Args:
        std_hu: estimated noise standard deviation of the input (HU); None or nan when unknown.
        gain: the network is told this multiple of the level (the model card's ``noise_level_gain``).
    """
    if std_hu is None or not np.isfinite(std_hu) or std_hu <= 0:
        std_hu = FALLBACK_STD_HU
    return gain * float(std_hu) / UNIT_HU


def with_noise_level(run: Runner, std_hu: float | None, gain: float = 1.0) -> Runner:
    """A runner of (Z, Y, X) tiles that feeds ``run`` the tile stacked with a constant noise-level channel.

    Args:
        run: runner of a noise-conditioned network, taking (2, Z, Y, X).
        std_hu: the input volume's noise standard deviation (HU); None or nan: ``FALLBACK_STD_HU``.
        gain: the network is told this multiple of the level (the model card's ``noise_level_gain``).
    """
    value = np.float32(channel_value(std_hu, gain))

    def run_with_level(tile: np.ndarray) -> np.ndarray:
        return run(np.stack([tile, np.full_like(tile, value)]))

    return run_with_level


def as_batch(tile: np.ndarray) -> np.ndarray:
    """(Z, Y, X) -> (1, 1, Z, Y, X); (C, Z, Y, X) -> (1, C, Z, Y, X)."""
    return tile[None, None] if tile.ndim == 3 else tile[None]
