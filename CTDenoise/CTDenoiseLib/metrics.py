"""Image-quality metrics on HU volumes. A PSNR means nothing without its HU window, so every function
takes the window explicitly and ``QUALITY_WINDOW`` is the one CTDenoise reports by default."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

QUALITY_WINDOW = (-1024.0, 1900.0)  # ldct-benchmark's convention (Eulig et al. 2024): data range 2924 HU


def _windowed(hu: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    low, high = window
    return (np.clip(hu.astype(np.float64), low, high) - low) / (high - low)


def psnr(reference: np.ndarray, image: np.ndarray, window: tuple[float, float] = QUALITY_WINDOW,
         mask: np.ndarray | None = None) -> float:
    """PSNR in dB after clipping both volumes to ``window`` and scaling it to [0, 1]."""
    difference = _windowed(image, window) - _windowed(reference, window)
    if mask is not None:
        difference = difference[mask]
    mse = float(np.mean(difference**2))
    return float("inf") if mse == 0 else -10.0 * np.log10(mse)


def ssim(reference: np.ndarray, image: np.ndarray, window: tuple[float, float] = QUALITY_WINDOW,
         sigma: float = 1.5, mask: np.ndarray | None = None) -> float:
    """3D SSIM (Wang et al. 2004, Gaussian window sigma 1.5 voxels, K1=0.01, K2=0.03) on the windowed [0, 1] data."""
    x, y = _windowed(reference, window), _windowed(image, window)
    c1, c2 = 0.01**2, 0.03**2
    blur = lambda a: ndimage.gaussian_filter(a, sigma, truncate=3.5)  # noqa: E731
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    ssim_map = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(ssim_map[mask].mean() if mask is not None else ssim_map.mean())
