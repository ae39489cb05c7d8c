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


# The STResNet authors' convention, for putting numbers beside the paper's: -1000..500 HU mapped to 0..255,
# 2D PSNR/SSIM (data range 255, scikit-image's default 7x7 uniform window) per slice, averaged over the slices of
# each orientation, then over the axial, coronal and sagittal means.
SEED_WINDOW = (-1000.0, 500.0)
SEED_DATA_RANGE = 255.0
_ORIENTATIONS = {"axial": 0, "coronal": 1, "sagittal": 2}


def _seed_scaled(hu: np.ndarray) -> np.ndarray:
    return _windowed(hu, SEED_WINDOW) * SEED_DATA_RANGE


def seed_psnr_ssim(reference: np.ndarray, image: np.ndarray) -> dict[str, float]:
    """PSNR and SSIM in the seed's convention: ``{"psnr", "ssim", "psnr_axial", ..., "slices_skipped"}``.

    Slices identical in both images (all outside the window, e.g. padding) have an infinite PSNR and are left out
    of both means; an orientation with fewer than 7 voxels across a slice has no SSIM window and is left out.
    """
    try:
        from skimage.metrics import structural_similarity
    except ImportError as error:
        from ..errors import CTDenoiseError

        raise CTDenoiseError("The seed's PSNR/SSIM convention needs scikit-image, which is not installed.",
                             'It is a dependency of ctdenoise; install it with: '
                             'pip install "scikit-image>=0.21".') from error

    x, y = _seed_scaled(reference), _seed_scaled(image)
    result: dict[str, float] = {}
    psnrs, ssims, skipped = [], [], 0
    for name, axis in _ORIENTATIONS.items():
        slice_psnr, slice_ssim = [], []
        for index in range(x.shape[axis]):
            a, b = np.take(x, index, axis=axis), np.take(y, index, axis=axis)
            mse = float(np.mean((a - b) ** 2))
            if mse == 0:
                skipped += 1
                continue
            slice_psnr.append(10.0 * np.log10(SEED_DATA_RANGE**2 / mse))
            if min(a.shape) >= 7:
                slice_ssim.append(structural_similarity(a, b, data_range=SEED_DATA_RANGE))
        if slice_psnr:
            result[f"psnr_{name}"] = float(np.mean(slice_psnr))
            psnrs.append(result[f"psnr_{name}"])
        if slice_ssim:
            result[f"ssim_{name}"] = float(np.mean(slice_ssim))
            ssims.append(result[f"ssim_{name}"])
    result["psnr"] = float(np.mean(psnrs)) if psnrs else float("inf")
    result["ssim"] = float(np.mean(ssims)) if ssims else float("nan")
    result["slices_skipped"] = float(skipped)
    return result


NOISE_ROI_MM = 10.0  # edge of the cube in which noise is measured
NOISE_ROI_HU = (-150.0, 150.0)  # soft tissue or water: homogeneous at this scale in most body CT


def find_homogeneous_roi(reference: np.ndarray, spacing_xyz: tuple[float, float, float],
                         size_mm: float = NOISE_ROI_MM, hu_range: tuple[float, float] = NOISE_ROI_HU
                         ) -> tuple[slice, slice, slice] | None:
    """The box of about ``size_mm`` (at least 3 voxels a side) whose mean lies in ``hu_range`` and whose standard
    deviation in ``reference`` is the smallest: the flattest soft-tissue region. None when there is none."""
    size = tuple(min(n, max(3, int(round(size_mm / s)))) for n, s in zip(reference.shape, spacing_xyz[::-1]))
    values = reference.astype(np.float64)
    mean = ndimage.uniform_filter(values, size, mode="nearest")
    variance = ndimage.uniform_filter(values * values, size, mode="nearest") - mean * mean
    inside = np.zeros(reference.shape, bool)
    inside[tuple(slice(k // 2, n - (k - 1 - k // 2)) for k, n in zip(size, reference.shape))] = True
    candidates = inside & (mean >= hu_range[0]) & (mean <= hu_range[1])
    if not candidates.any():
        return None
    centre = np.unravel_index(np.argmin(np.where(candidates, variance, np.inf)), reference.shape)
    return tuple(slice(c - k // 2, c - k // 2 + k) for c, k in zip(centre, size))


def noise_std(image: np.ndarray, roi: tuple[slice, slice, slice] | np.ndarray) -> float:
    """Standard deviation in HU of ``image`` inside ``roi`` (index box or boolean mask)."""
    return float(np.std(image[roi].astype(np.float64)))
