"""Self-ensemble (geometric test-time augmentation, Lim et al. 2017 "EDSR+"): run each tile in its 8 flips
along z, y and x, flip every result back and average them. The networks are trained on flipped patches, so the
8 outputs are equally good estimates whose errors partly cancel: about +0.2 dB PSNR for 8x the time."""

from __future__ import annotations

import numpy as np

from ..models.noise_channel import input_channels
from ..runtime.backends import Runner

FLIPS: tuple[tuple[int, ...], ...] = ((), (2,), (1,), (1, 2), (0,), (0, 2), (0, 1), (0, 1, 2))


def self_ensemble(run: Runner) -> Runner:
    """A runner that averages ``run`` over the 8 flips of its (Z, Y, X) input (or of each channel of a
    (C, Z, Y, X) one); works with any backend and with z-upscaling networks (flipping z of the input reverses z
    of the output).

    Args:
        run: the runner to average: a (Z, Y, X) or (C, Z, Y, X) normalised tile in, the network's output out.

    Returns:
        A runner taking what ``run`` takes, returning the float32 mean of the 8 outputs flipped back; it carries
        ``run``'s ``input_channels``.
    """

    def run_flipped(tile: np.ndarray) -> np.ndarray:
        total: np.ndarray | None = None
        for axes in FLIPS:
            spatial = tuple(axis + tile.ndim - 3 for axis in axes)  # skip a leading channel axis
            source = np.ascontiguousarray(np.flip(tile, spatial)) if axes else tile
            result = np.asarray(run(source), dtype=np.float32)
            result = np.flip(result, axes) if axes else result
            total = result.copy() if total is None else total + result
        assert total is not None
        return total / len(FLIPS)

    run_flipped.input_channels = input_channels(run)  # type: ignore[attr-defined]
    return run_flipped
