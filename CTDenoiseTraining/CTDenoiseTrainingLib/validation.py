"""Validation of every recipe: PSNR/SSIM of the denoised held-out volumes over each simulated regime."""

from __future__ import annotations

import numpy as np
import torch

from CTDenoiseLib.evaluation.metrics import psnr, ssim
from CTDenoiseLib.hu import HUNormalization
from CTDenoiseLib.inference.tiled import denoise_hu
from CTDenoiseLib.inference.tiling import Halo
from CTDenoiseLib.noise.estimate import estimate_noise_per_slice
from CTDenoiseLib.runtime.backends import TorchRunner

from . import distributed
from .prepare import PreparedCase

VALIDATION_SEED_OFFSET = 100_000  # validation cases draw other noise than any training case
VALIDATION_TILE_VOXELS = 16_000_000  # whole validation slices in few tiles: a wide in-plane halo is read once


def validate(model: torch.nn.Module, cases: list[PreparedCase], normalization: HUNormalization, halo: Halo,
             context: distributed.Context, noise_scales: tuple[float, ...] = (1.0,), per_slice_noise: bool = False
             ) -> dict:
    """Mean PSNR/SSIM (QUALITY_WINDOW, scanner padding excluded) of low dose and output over the validation
    regimes: every case, each of its simulated realisations (one per simulation variant), each noise scale.
    Each rank takes every world-th case. A z-upscaling model's input is compared slice-repeated.

    Args:
        model: the network, in training mode on return.
        cases: prepared validation cases.
        normalization: HU normalisation of the network.
        halo: tile overlap for whole-volume inference (one number, or z, y, x).
        context: the distributed context (sums over ranks).
        noise_scales: factors applied to each realisation's noise (low - normal); 1.0 is the simulated dose.
        per_slice_noise: a noise-conditioned model is told each slice's estimated level (as the engine tells a
            model whose card says ``noise_map`` ``slice``) instead of the volume's.

    Returns:
        Means over regimes, and the worst regime's PSNR gain (``psnr_gain_db_worst``).
    """
    model.eval()
    run = TorchRunner(model, str(context.device))
    sums = [0.0] * 5
    worst = np.inf
    for index, case in enumerate(cases):
        if index % context.world != context.rank:
            continue
        normal = np.load(case.normal).astype(np.float32)
        mask = normalization.in_range(normal)
        for low_path in case.lows:
            simulated = np.load(low_path).astype(np.float32)
            for scale in noise_scales:
                low = simulated if scale == 1.0 else normal + scale * (simulated - normal)
                levels = estimate_noise_per_slice(low).std_hu if per_slice_noise else None
                denoised = denoise_hu(low, run, normalization, halo, VALIDATION_TILE_VOXELS, noise_std_hu=levels)
                low_up = np.repeat(low, normal.shape[0] // low.shape[0], axis=0)
                values = (psnr(normal, low_up, mask=mask), psnr(normal, denoised, mask=mask),
                          ssim(normal, low_up, mask=mask), ssim(normal, denoised, mask=mask))
                worst = min(worst, values[1] - values[0])
                sums = [total + value for total, value in zip(sums, (1.0, *values))]
    model.train()
    count, low_psnr, out_psnr, low_ssim, out_ssim = distributed.all_sum(context, sums)
    worst = distributed.all_min(context, worst)
    low_psnr, out_psnr, low_ssim, out_ssim = (value / count for value in (low_psnr, out_psnr, low_ssim, out_ssim))
    return {"low_dose_psnr_db": low_psnr, "psnr_db": out_psnr, "psnr_gain_db": out_psnr - low_psnr,
            "low_dose_ssim": low_ssim, "ssim": out_ssim, "psnr_gain_db_worst": worst}
