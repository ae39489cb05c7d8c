"""The classical filters every denoiser must beat: non-local means and curvature anisotropic diffusion, and BM3D
where the user has installed it.

Non-local means (scikit-image, slice by slice): its strength ``h`` is ``NlmSettings.strength`` times the noise
level, one for the volume or one per slice, which comes without the reference from ``noise.estimate``
(a white-noise estimator such as ``skimage.restoration.estimate_sigma`` under-estimates CT noise 3-5x and leaves
it in), or, as an upper bound no user can reach, from the reference. Curvature anisotropic diffusion is the filter
Slicer offers one click away (Filtering > Denoising); SimpleITK runs the same ITK filter in 3D with the image
spacing. BM3D (the ``bm3d`` package, slice by slice) is licensed for non-commercial use only: CTDenoise never
depends on it nor installs it, and uses it only where it is already importable.

The settings were chosen on training volumes only (``ctdenoise battery --tune``; see docs/evaluation.md).
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass

import numpy as np

BM3D_ABSENT = ("the bm3d package is not installed; it is licensed for non-commercial use only, so CTDenoise never "
               "depends on it nor installs it (install it yourself to add this row)")
BM3D_SCALE_HU = 2000.0  # BM3D is given (HU + 1000) / 2000: about 0..1 over the body's range, as its examples use


@dataclass(frozen=True)
class NlmSettings:
    strength: float = 0.8  # h = strength x noise std (HU), with ``sigma`` given; tuned: 0.5-1.25 tried, 0.8 best
    patch_size: int = 5
    patch_distance: int = 6

    def to_dict(self) -> dict:
        """The settings as the study records them."""
        return asdict(self)


@dataclass(frozen=True)
class DiffusionSettings:
    # Tuned on training volumes (docs/evaluation.md): best of 3 iteration counts x 4 conductances. The time step
    # stays under ITK's stability limit (spacing / 16: ITK warns that 0.0625 is unstable at 0.82 mm pixels).
    iterations: int = 10
    conductance: float = 1.0
    time_step: float = 0.03

    def to_dict(self) -> dict:
        """The settings as the study records them."""
        return asdict(self)


def _per_slice(noise_std_hu: float | np.ndarray, slices: int) -> np.ndarray:
    return np.maximum(np.broadcast_to(np.asarray(noise_std_hu, dtype=np.float64), (slices,)), 1e-3)


def nlm_slicewise(hu: np.ndarray, noise_std_hu: float | np.ndarray,
                  settings: NlmSettings = NlmSettings()) -> np.ndarray:
    """Non-local means on each axial slice (scikit-image, fast mode).

    Args:
        hu: (Z, Y, X) volume in HU; not modified.
        noise_std_hu: the noise standard deviation the filter is told (HU): one for every slice, or one per slice
            (an array of Z values, e.g. ``noise.estimate.estimate_noise_per_slice``).
        settings: strength multiplier and patch geometry.

    Returns:
        The filtered volume, float32 HU.
    """
    from skimage.restoration import denoise_nl_means

    volume = np.asarray(hu, dtype=np.float32)
    return np.stack([denoise_nl_means(image, h=settings.strength * sigma, sigma=sigma,
                                      patch_size=settings.patch_size, patch_distance=settings.patch_distance,
                                      fast_mode=True, preserve_range=True).astype(np.float32)
                     for image, sigma in zip(volume, _per_slice(noise_std_hu, len(volume)).tolist())])


def bm3d_available() -> bool:
    """Whether the ``bm3d`` package can be imported (see ``BM3D_ABSENT`` for why it may not be)."""
    return importlib.util.find_spec("bm3d") is not None


def bm3d_slicewise(hu: np.ndarray, noise_std_hu: float | np.ndarray) -> np.ndarray:
    """BM3D (the ``bm3d`` package, white-noise model) on each axial slice; only where ``bm3d_available()``.

    Args:
        hu: (Z, Y, X) volume in HU; not modified.
        noise_std_hu: the noise standard deviation it is told (HU): one for every slice, or one per slice.

    Returns:
        The filtered volume, float32 HU.
    """
    import bm3d

    volume = np.asarray(hu, dtype=np.float32)
    return np.stack([np.asarray(bm3d.bm3d((image + 1000.0) / BM3D_SCALE_HU, sigma_psd=sigma / BM3D_SCALE_HU),
                                dtype=np.float32) * BM3D_SCALE_HU - 1000.0
                     for image, sigma in zip(volume, _per_slice(noise_std_hu, len(volume)).tolist())])


def curvature_anisotropic_diffusion(hu: np.ndarray, spacing_xyz: tuple[float, float, float],
                                    settings: DiffusionSettings = DiffusionSettings()) -> np.ndarray:
    """ITK's curvature anisotropic diffusion in 3D (what Slicer's Filtering > Denoising module runs).

    Args:
        hu: (Z, Y, X) volume in HU; not modified.
        spacing_xyz: voxel size in mm (x, y, z), which the filter's gradients use.
        settings: iterations, conductance and time step.

    Returns:
        The filtered volume, float32 HU.
    """
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.asarray(hu, dtype=np.float32))
    image.SetSpacing(tuple(float(s) for s in spacing_xyz))
    filtered = sitk.CurvatureAnisotropicDiffusion(image, timeStep=settings.time_step,
                                                  conductanceParameter=settings.conductance,
                                                  numberOfIterations=settings.iterations)
    return sitk.GetArrayFromImage(filtered).astype(np.float32)
