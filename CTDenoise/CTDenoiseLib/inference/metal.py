"""Near metal the networks see an input they were never trained on: voxels above the normalisation's range (a
30000 HU implant) are clipped to its top (3071 HU), and the output beside them over- and undershoots (measured:
80 HU below anything in the input's neighbourhood, in air beside a metal rod). Metal voxels themselves are
returned unchanged (``inference.denoise_hu``); here the voxels near them are held to what denoising can produce:
a value within the range of the input's own values in a small window around the voxel (metal excluded).
Everywhere else the output is left exactly as the network made it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

NEAR_METAL_RADIUS = 11  # voxels: the receptive field radius of the shipped networks
LOCAL_WINDOW = 5  # voxels per side of the window whose input range bounds the output


def clamp_near_metal(denoised: np.ndarray, hu: np.ndarray, high: float, radius: int = NEAR_METAL_RADIUS,
                     window: int = LOCAL_WINDOW) -> np.ndarray:
    """``denoised`` with the voxels within ``radius`` of a voxel above ``high`` clamped to the input's local range.

    Args:
        denoised: the network's output in HU, same shape as ``hu``; modified in place and returned.
        hu: the input in HU.
        high: the top of the range the network was trained on (``HUNormalization.high``).
        radius: how far from metal the clamp applies, in voxels.
        window: side of the cube whose input values (metal excluded) bound each clamped voxel.
    """
    metal = hu > high
    if not metal.any():
        return denoised
    corners = np.argwhere(metal)
    margin = radius + window
    box = tuple(slice(max(0, low - margin), min(size, top + margin + 1))
                for low, top, size in zip(corners.min(axis=0), corners.max(axis=0), hu.shape))
    local_metal, local_hu = metal[box], hu[box].astype(np.float32)
    near = ndimage.maximum_filter(local_metal.view(np.uint8), size=2 * radius + 1).astype(bool) & ~local_metal
    lowest = ndimage.minimum_filter(np.where(local_metal, np.inf, local_hu), size=window)
    highest = ndimage.maximum_filter(np.where(local_metal, -np.inf, local_hu), size=window)
    region = denoised[box]
    region[near] = np.clip(region[near], lowest[near], highest[near])
    return denoised
