"""Measuring denoisers: image-quality metrics (PSNR, SSIM, LPIPS, noise), the classical baselines, the
robustness battery and low-contrast detectability with model observers."""
