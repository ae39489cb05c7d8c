"""The classical filters every denoiser must beat: non-local means and curvature anisotropic diffusion.

Non-local means (scikit-image, slice by slice): its strength ``h`` is ``NLM_STRENGTH`` times the noise level,
which comes without the reference from ``noise_estimate.estimate_noise_std`` (a white-noise estimator such as
``skimage.restoration.estimate_sigma`` under-estimates CT noise 3-5x and leaves it in), or, as an upper bound
no user can reach, from the reference. Curvature anisotropic diffusion is the filter Slicer offers one click
away (Filtering > Denoising); SimpleITK runs the same ITK filter in 3D with the image spacing.

The settings were chosen on training volumes only (``ctdenoise battery --tune``; see docs/evaluation.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class NlmSettings:
    strength: float = 0.8  # h = strength x noise std (HU), with ``sigma`` given; tuned: 0.5-1.25 tried, 0.8 best
    patch_size: int = 5
    patch_distance: int = 6

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DiffusionSettings:
    # Tuned on training volumes (docs/evaluation.md): best of 3 iteration counts x 4 conductances. The time step
    # stays under ITK's stability limit (spacing / 16: ITK warns that 0.0625 is unstable at 0.82 mm pixels).
    iterations: int = 10
    conductance: float = 1.0
    time_step: float = 0.03

    def to_dict(self) -> dict:
        return asdict(self)


def nlm_slicewise(hu: np.ndarray, noise_std_hu: float, settings: NlmSettings = NlmSettings()) -> np.ndarray:
    """Non-local means on each axial slice (scikit-image, fast mode).

    Args:
        hu: (Z, Y, X) volume in HU; not modified.
        noise_std_hu: the noise standard deviation the filter is told (HU).
        settings: strength multiplier and patch geometry.

    Returns:
        The filtered volume, float32 HU.
    """
    from skimage.restoration import denoise_nl_means

    volume = np.asarray(hu, dtype=np.float32)
    sigma = float(max(noise_std_hu, 1e-3))
    return np.stack([denoise_nl_means(image, h=settings.strength * sigma, sigma=sigma,
                                      patch_size=settings.patch_size, patch_distance=settings.patch_distance,
                                      fast_mode=True, preserve_range=True).astype(np.float32)
                     for image in volume])


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
