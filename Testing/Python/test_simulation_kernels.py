"""The reconstruction kernel sets the grain of the inserted noise: sharper kernels give finer, stronger noise."""

from __future__ import annotations

import numpy as np
import pytest

from CTDenoiseLib.errors import CTDenoiseError
from CTDenoiseLib.simulation.low_dose import DoseSimulation, simulate_low_dose_hu


def _spectrum_centroid(noise: np.ndarray) -> float:
    """Radial centroid, in cycles per pixel, of the mean 2D noise power spectrum of the slices."""
    power = np.mean([np.abs(np.fft.fft2(image)) ** 2 for image in noise], axis=0)
    fy, fx = np.meshgrid(np.fft.fftfreq(noise.shape[1]), np.fft.fftfreq(noise.shape[2]), indexing="ij")
    radius = np.hypot(fy, fx)
    return float((power * radius).sum() / power.sum())


def test_sharper_kernels_give_finer_and_stronger_noise() -> None:
    water = np.full((2, 64, 64), 0.0, dtype=np.float32)
    results = {}
    for kernel in ("hann", "shepp-logan", "ram-lak"):
        low = simulate_low_dose_hu(water, 0.7, DoseSimulation(dose=0.25, kernel=kernel, seed=5, views=120))
        noise = (low - water)[:, 16:48, 16:48]
        results[kernel] = (_spectrum_centroid(noise), float(noise.std()))
    (c_hann, s_hann), (c_shepp, s_shepp), (c_ramlak, s_ramlak) = (results[k]
                                                                  for k in ("hann", "shepp-logan", "ram-lak"))
    assert c_hann < c_shepp < c_ramlak
    assert s_hann < s_shepp < s_ramlak


def test_the_calibrated_default_sits_between_hann_and_shepp_logan_in_grain() -> None:
    water = np.full((2, 64, 64), 0.0, dtype=np.float32)
    centroids = [_spectrum_centroid((simulate_low_dose_hu(water, 0.7, DoseSimulation(dose=0.25, kernel=kernel,
                                                                                      seed=5, views=120))
                                     - water)[:, 16:48, 16:48])
                 for kernel in ("hann", "phantom-fbp", "shepp-logan")]
    assert DoseSimulation().kernel == "phantom-fbp"
    assert centroids[0] < centroids[1] < centroids[2]


def test_existing_kernels_keep_their_window_and_photons() -> None:
    """hann, shepp-logan and ram-lak mean what they meant before phantom-fbp became the default: the same filter
    and I0, also when a variant swaps the kernel of a default simulation (the training's realisation cycle)."""
    import math

    import torch

    from CTDenoiseLib.simulation.low_dose import _ramp_filter

    frequencies = torch.fft.rfftfreq(64)
    torch.testing.assert_close(_ramp_filter(64, "hann"),
                               frequencies * 0.5 * (1.0 + torch.cos(2.0 * math.pi * frequencies)), rtol=0, atol=0)
    torch.testing.assert_close(_ramp_filter(64, "shepp-logan"), frequencies * torch.sinc(frequencies), rtol=0, atol=0)
    torch.testing.assert_close(_ramp_filter(64, "ram-lak"), frequencies, rtol=0, atol=0)
    for kernel in ("hann", "shepp-logan", "ram-lak"):
        swapped = DoseSimulation(**{**DoseSimulation().to_dict(), "kernel": kernel})
        assert swapped.incident_photons == 2.5e4
    assert DoseSimulation().incident_photons == 6.0e4
    assert DoseSimulation(kernel="hann", photons=1e5).incident_photons == 1e5


def test_an_unknown_kernel_is_refused() -> None:
    with pytest.raises(CTDenoiseError, match="kernel"):
        DoseSimulation(kernel="lung")


def test_scanner_image_blurs_step_edges_keeps_flat_values_and_leaves_the_object_alone() -> None:
    from scipy import ndimage

    from CTDenoiseLib.simulation.low_dose import scanner_image
    from CTDenoiseLib.simulation.phantom import chest_phantom

    phantom = chest_phantom((4, 96, 96), 1.5, seed=3)
    before = phantom.array.copy()
    soft, sharp = scanner_image(phantom, "hann"), scanner_image(phantom, "ram-lak")
    np.testing.assert_array_equal(phantom.array, before)
    assert soft.array.dtype == np.int16 and soft.array.shape == before.shape and soft.spacing == phantom.spacing
    truth = before.astype(np.float32)
    edges = ndimage.morphological_gradient(truth, size=3) > 150
    flat = ~ndimage.binary_dilation(edges, iterations=3) & (truth > -950)
    assert abs(float(np.mean(soft.array[flat] - truth[flat]))) < 4  # calibrated: no offset in flat regions
    error = {name: float(np.sqrt(np.mean((image.array[edges].astype(np.float32) - truth[edges]) ** 2)))
             for name, image in (("hann", soft), ("ram-lak", sharp))}
    assert error["hann"] > error["ram-lak"] > 20  # step edges blurred, less by the sharper kernel
