"""The battery's classical baselines, each a row of every cell, and the choice of their settings.

Non-local means is the filter a careful user runs, so it enters three times, slice by slice:

- ``NLM_PER_SLICE``, **the reference every model must beat**: told each slice's own reference-free noise estimate
  (``noise.estimate.estimate_noise_per_slice``), since exposure control makes the noise change along z;
- ``NLM_PER_VOLUME``: told one reference-free estimate for the whole volume, as the battery did before;
- ``NLM_UPPER_BOUND``: told each slice's true noise (std of low - reference in the body) and run at every strength
  of ``UPPER_BOUND_STRENGTHS``, keeping the one with the best body PSNR in that cell: the best any user could tune
  NLM to, with knowledge no user has.

Beside them, Slicer's curvature anisotropic diffusion, and BM3D only where the user installed it (non-commercial
licence: never a dependency); a row that cannot run is named with the reason (``optional_methods``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from .battery import BATTERY_WINDOW, LOW_DOSE, Method, Scene, score, simulated_scenes
from .battery_grid import Grid
from .classical_denoisers import (
    BM3D_ABSENT,
    DiffusionSettings,
    NlmSettings,
    bm3d_available,
    bm3d_slicewise,
    curvature_anisotropic_diffusion,
    nlm_slicewise,
)
from .metrics import psnr

NLM_PER_SLICE = "NLM (estimated noise per slice)"
NLM_PER_VOLUME = "NLM (estimated noise per volume)"
NLM_UPPER_BOUND = "NLM (true noise per slice, best strength: upper bound)"
DIFFUSION = "anisotropic diffusion"
BM3D = "BM3D (estimated noise per slice)"
REFERENCE = NLM_PER_SLICE  # the row every model must beat (battery_report.verdicts)
CLASSICAL = (LOW_DOSE, NLM_PER_SLICE, NLM_PER_VOLUME, NLM_UPPER_BOUND, DIFFUSION, BM3D)
UPPER_BOUND_STRENGTHS = (0.6, 0.8, 1.0, 1.2, 1.4)  # h / sigma tried for the upper bound, per cell


def nlm_upper_bound(scene: Scene, settings: NlmSettings) -> np.ndarray:
    """NLM told each slice's true noise, at the strength of ``UPPER_BOUND_STRENGTHS`` with the best body PSNR
    against the scene's reference; the strength is recorded in ``scene.settings_chosen``.

    Args:
        scene: the scene, whose ``true_noise_per_slice``, ``reference`` and ``body`` are used.
        settings: the patch geometry (its strength is replaced by each candidate).

    Returns:
        The best of the candidates' outputs, float32 HU.
    """
    best, best_psnr, best_strength = None, -np.inf, UPPER_BOUND_STRENGTHS[0]
    for strength in UPPER_BOUND_STRENGTHS:
        output = nlm_slicewise(scene.low, scene.true_noise_per_slice, replace(settings, strength=strength))
        value = psnr(scene.reference, output, BATTERY_WINDOW, scene.body)
        if value > best_psnr:
            best, best_psnr, best_strength = output, value, strength
    scene.settings_chosen[NLM_UPPER_BOUND] = f"strength {best_strength:g}"
    return best


def classical_methods(nlm: NlmSettings, diffusion: DiffusionSettings) -> dict[str, Method]:
    """The baselines every model is compared with (those that need no optional package).

    Args:
        nlm: the non-local means settings (strength and patches) of the reference-free rows.
        diffusion: the curvature anisotropic diffusion settings.

    Returns:
        By name: ``LOW_DOSE`` (the low dose as it is), ``NLM_PER_SLICE`` (told each slice's estimated noise std),
        ``NLM_PER_VOLUME`` (told the volume's), ``NLM_UPPER_BOUND`` (``nlm_upper_bound``) and ``DIFFUSION`` (with
        the scene's voxel spacing).
    """
    return {
        LOW_DOSE: lambda scene: scene.low,
        NLM_PER_SLICE: lambda scene: nlm_slicewise(scene.low, scene.estimated_noise_per_slice, nlm),
        NLM_PER_VOLUME: lambda scene: nlm_slicewise(scene.low, scene.estimated_noise_std, nlm),
        NLM_UPPER_BOUND: lambda scene: nlm_upper_bound(scene, nlm),
        DIFFUSION: lambda scene: curvature_anisotropic_diffusion(scene.low, scene.spacing, diffusion),
    }


def optional_methods() -> tuple[dict[str, Method], dict[str, str]]:
    """The baselines that need a package CTDenoise does not depend on, where it is installed.

    Returns:
        The methods that can run, by name (``BM3D``: slice by slice, told each slice's estimated noise std), and
        the rows that cannot, by name, with the reason.
    """
    if bm3d_available():
        return {BM3D: lambda scene: bm3d_slicewise(scene.low, scene.estimated_noise_per_slice)}, {}
    return {}, {BM3D: BM3D_ABSENT}


NLM_STRENGTHS = (0.5, 0.65, 0.8, 1.0, 1.25)
DIFFUSION_CHOICES = tuple(DiffusionSettings(iterations, conductance, step)
                          for iterations in (5, 10, 20) for conductance in (0.5, 1.0, 2.0, 4.0)
                          for step in (0.03,))


def tune_baselines(grid: Grid, log: Callable[[str], None] = print) -> tuple[NlmSettings, DiffusionSettings, list[dict]]:
    """Choose the NLM strength (of the reference row, told each slice's estimated noise) and the diffusion
    settings with the best mean body PSNR over ``grid``'s cells. Run it on training volumes only: the battery's
    cases must not choose their own baselines.

    Args:
        grid: the tuning conditions (training volumes).
        log: where a line per candidate goes.

    Returns:
        The best NLM settings, the best diffusion settings, and one row per candidate with its mean PSNR.
    """
    scenes = simulated_scenes(grid)
    rows = []
    for strength in NLM_STRENGTHS:
        settings = NlmSettings(strength=strength)
        mean = float(np.mean([score(s, nlm_slicewise(s.low, s.estimated_noise_per_slice, settings))["psnr_db"]
                              for s in scenes]))
        rows.append({"filter": "nlm", **settings.to_dict(), "mean_psnr_db": mean})
        log(f"NLM strength {strength}: {mean:.2f} dB")
    for settings in DIFFUSION_CHOICES:
        mean = float(np.mean([score(s, curvature_anisotropic_diffusion(s.low, s.spacing, settings))["psnr_db"]
                              for s in scenes]))
        rows.append({"filter": "diffusion", **settings.to_dict(), "mean_psnr_db": mean})
        log(f"diffusion {settings}: {mean:.2f} dB")
    best_nlm = max((row for row in rows if row["filter"] == "nlm"), key=lambda row: row["mean_psnr_db"])
    best_diffusion = max((row for row in rows if row["filter"] == "diffusion"), key=lambda row: row["mean_psnr_db"])
    return (NlmSettings(best_nlm["strength"], best_nlm["patch_size"], best_nlm["patch_distance"]),
            DiffusionSettings(best_diffusion["iterations"], best_diffusion["conductance"], best_diffusion["time_step"]),
            rows)
