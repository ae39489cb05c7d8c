"""Measuring denoisers: image-quality metrics (PSNR, SSIM, LPIPS), the classical baselines, the robustness battery
and low-contrast detectability with model observers. The reference-free noise estimate they use is an input of
inference too, so it lives below both (``CTDenoiseLib.noise.estimate``)."""
