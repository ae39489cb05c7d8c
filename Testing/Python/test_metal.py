"""Beside metal (far above the HU range the networks were trained on) the output stays within the input's local
range instead of over- and undershooting; metal voxels and everything far from metal are left as they were."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from CTDenoiseLib.inference.metal import LOCAL_WINDOW, NEAR_METAL_RADIUS, clamp_near_metal
from CTDenoiseLib.inference.tiled import denoise_hu
from CTDenoiseLib.models.files import load_model
from CTDenoiseLib.runtime.backends import Choice, make_runner


def chest_with_a_metal_rod(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Soft tissue (40 HU) with a lung (-850 HU) holding a 30000 HU rod, 60 HU noise, air around."""
    _, y, x = np.mgrid[0:12, 0:96, 0:96]
    hu = np.full((12, 96, 96), -1000.0, np.float32)
    hu[(y - 48) ** 2 + (x - 48) ** 2 < 40 ** 2] = 40
    hu[(y - 48) ** 2 + (x - 30) ** 2 < 12 ** 2] = -850
    metal = (y - 48) ** 2 + (x - 30) ** 2 < 5 ** 2
    hu[metal] = 30000
    hu += np.random.default_rng(seed).normal(0, 60, hu.shape).astype(np.float32) * ~metal
    return hu, metal


def test_the_output_beside_metal_stays_within_the_inputs_local_range() -> None:
    hu, metal = chest_with_a_metal_rod()
    model = load_model("stresnet")
    denoised = denoise_hu(hu, make_runner(model, Choice("fp32", "cpu"), "torch"), model.normalization, model.halo)
    near = ndimage.binary_dilation(metal, iterations=6) & ~metal
    lowest = ndimage.minimum_filter(np.where(metal, np.inf, hu), size=LOCAL_WINDOW)
    highest = ndimage.maximum_filter(np.where(metal, -np.inf, hu), size=LOCAL_WINDOW)
    assert (denoised[near] >= lowest[near] - 1e-3).all(), (lowest - denoised)[near].max()  # was 80 HU below
    assert (denoised[near] <= highest[near] + 1e-3).all(), (denoised - highest)[near].max()  # was 100 HU above
    assert np.array_equal(denoised[metal], hu[metal])
    assert np.abs(denoised - hu)[near].mean() > 5  # still denoised there, not copied


def test_the_clamp_leaves_volumes_without_metal_and_voxels_far_from_it_untouched() -> None:
    rng = np.random.default_rng(1)
    hu = rng.normal(0, 60, (8, 80, 80)).astype(np.float32)
    output = hu + rng.normal(0, 200, hu.shape).astype(np.float32)  # far outside any local range
    assert np.array_equal(clamp_near_metal(output.copy(), hu, 3071.0), output)
    hu[4, 5, 5] = 30000
    clamped = clamp_near_metal(output.copy(), hu, 3071.0)
    far = np.ones(hu.shape, bool)
    far[:, : 5 + NEAR_METAL_RADIUS + 1, : 5 + NEAR_METAL_RADIUS + 1] = False
    assert np.array_equal(clamped[far], output[far]) and not np.array_equal(clamped, output)
