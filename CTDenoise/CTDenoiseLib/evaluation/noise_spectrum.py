"""The noise power spectrum (NPS) of noise-only images: its radial profile, peak frequency and centroid.

Method (ICRU Report 87, 2012, section 5; Solomon, Christianson & Samei, Med Phys 39:4827, 2012; Boedeker, Cooper
& McNitt-Gray, Phys Med Biol 52:4027, 2007): square ROIs (64 pixels, half-overlapping) are cut from noise-only
images (a realisation minus the mean of the others, or a simulated image minus its noise-free input) where the
noise is wanted; each ROI is detrended by subtracting its least-squares polynomial surface (order 2 by default:
removes the slow shading a finite set of realisations leaves) and optionally tapered by a Hann window (rescaled to
keep the power); then

    NPS(u, v) = dx dy / (Nx Ny) * < |DFT2(ROI)|^2 >    (HU^2 pixel^2; the mean over ROIs and images)

so that its integral over the frequency square is the noise variance. The 2D NPS is averaged over rings of
width 1 / ROI size (``radial``) up to the Nyquist frequency (0.5 cycles/pixel). The peak is the vertex of a
parabola fitted to the rings around the highest one that hold at least 80 % of its power: an FBP noise spectrum
has a flat top, on which the single highest ring wanders by up to 0.05 cycles/pixel between sets of four MITA
phantom realisations, the fitted vertex by about 0.01 (on a strongly skewed spectrum such as f exp(-f / 0.15)
it reads 9 % high). The centroid is Solomon's average frequency ``f_av = sum f NPS(f) / sum NPS(f)`` over the
radial profile. Frequencies are in cycles per pixel, so that spectra of images of different pixel sizes compare as
textures (divide by the pixel size in mm for cycles/mm). White noise is flat: peak anywhere, centroid 0.26
cycles/pixel (the rings' mean; detrending empties the DC ring).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROI_SIZE = 64  # pixels per side: 1/64 = 0.016 cycles/pixel rings
DETREND_ORDER = 2
WINDOWS = ("none", "hann")
# The peak of a flat-topped NPS is fitted to the rings near its top, not read off the single highest (noisy) ring.
PEAK_LEVEL = 0.8


@dataclass(frozen=True)
class NoiseSpectrum:
    """A radially averaged noise power spectrum and its summary numbers.

    Attributes:
        frequencies: ring centres in cycles/pixel, 0 to 0.5.
        radial: the mean NPS on each ring, HU^2 pixel^2.
        peak: the frequency of greatest power in cycles/pixel (a parabola fitted to the top of the spectrum).
        centroid: the power-weighted mean frequency of ``radial`` in cycles/pixel.
        std: the root of the 2D NPS's integral: the noise standard deviation in the detrended ROIs, HU.
        rois: the number of ROIs averaged.
    """

    frequencies: np.ndarray
    radial: np.ndarray
    peak: float
    centroid: float
    std: float
    rois: int


def realisation_noise(realisations: np.ndarray) -> np.ndarray:
    """Noise-only images of repeated scans of one object: each realisation minus the mean of the others.

    ``x_k - mean(others)`` has variance ``sigma^2 n / (n - 1)``; multiplied by ``sqrt((n - 1) / n)`` it has the
    variance of one realisation's noise (the same as ``(x_k - mean(all)) * sqrt(n / (n - 1))``).

    Args:
        realisations: (N, Y, X) independent scans of the same object, N >= 2.

    Returns:
        (N, Y, X) float64 noise images.

    Raises:
        ValueError: fewer than two realisations.
    """
    stack = np.asarray(realisations, dtype=np.float64)
    count = len(stack)
    if count < 2:
        raise ValueError(f"Noise by subtraction needs at least two realisations, got {count}.")
    others = (stack.sum(axis=0) - stack) / (count - 1)
    return (stack - others) * np.sqrt((count - 1) / count)


def roi_corners(mask: np.ndarray, size: int = ROI_SIZE, step: int | None = None) -> list[tuple[int, int]]:
    """Top-left corners of the ``size`` x ``size`` ROIs of a regular grid (``step`` apart) that lie wholly inside
    ``mask``.

    Args:
        mask: (Y, X) bool, where the noise may be measured.
        size: the ROI's side in pixels.
        step: the grid's spacing in pixels (``size // 2``, half-overlapping ROIs, by default).

    Returns:
        (row, column) corners, row-major.
    """
    step = step or max(1, size // 2)
    height, width = mask.shape
    inside = np.cumsum(np.cumsum(np.pad(mask.astype(np.int64), ((1, 0), (1, 0))), axis=0), axis=1)
    corners = []
    for row in range(0, height - size + 1, step):
        for column in range(0, width - size + 1, step):
            count = (inside[row + size, column + size] - inside[row, column + size]
                     - inside[row + size, column] + inside[row, column])
            if count == size * size:
                corners.append((row, column))
    return corners


def _polynomial_basis(size: int, order: int) -> np.ndarray:
    """(size*size, terms) monomials y^i x^j, i + j <= order, on a centred grid scaled to [-1, 1]."""
    axis = np.linspace(-1.0, 1.0, size)
    yy, xx = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([(yy ** i * xx ** j).ravel() for i in range(order + 1) for j in range(order + 1 - i)], axis=1)


def _hann_taper(size: int) -> np.ndarray:
    taper = np.outer(np.hanning(size), np.hanning(size))
    return taper / np.sqrt(np.mean(taper ** 2))  # the taper keeps the mean power


def noise_power_spectrum(noise: np.ndarray, mask: np.ndarray | None = None, roi_size: int = ROI_SIZE,
                         detrend_order: int = DETREND_ORDER, window: str = "none") -> NoiseSpectrum:
    """The radially averaged NPS of noise-only images, with peak and centroid (method in the module docstring).

    Args:
        noise: (N, Y, X) or (Y, X) noise-only images in HU.
        mask: (Y, X) bool, where ROIs may lie (everywhere when omitted).
        roi_size: the ROI's side in pixels (even); sets the ring width 1 / ``roi_size`` cycles/pixel.
        detrend_order: order of the polynomial surface subtracted from each ROI (0: its mean).
        window: ``"none"`` (rectangular, as in ICRU 87) or ``"hann"`` (less leakage, coarser resolution).

    Returns:
        The spectrum and its summary numbers.

    Raises:
        ValueError: ``window`` is not one of ``WINDOWS``, ``detrend_order`` is negative, or no ROI fits in the mask.
    """
    if window not in WINDOWS:
        raise ValueError(f"Unknown NPS window '{window}': use one of {', '.join(WINDOWS)}.")
    if detrend_order < 0:
        raise ValueError(f"Detrending order must be >= 0, got {detrend_order}.")
    images = np.asarray(noise, dtype=np.float64)
    images = images[None] if images.ndim == 2 else images
    mask = np.ones(images.shape[1:], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    corners = roi_corners(mask, roi_size)
    if not corners:
        raise ValueError(f"No {roi_size} x {roi_size} ROI fits inside the mask: use smaller ROIs.")
    rois = np.stack([image[row:row + roi_size, column:column + roi_size]
                     for image in images for row, column in corners])
    basis = _polynomial_basis(roi_size, detrend_order)
    flat = rois.reshape(len(rois), -1).T
    coefficients, *_ = np.linalg.lstsq(basis, flat, rcond=None)
    rois = (flat - basis @ coefficients).T.reshape(rois.shape)
    if window == "hann":
        rois = rois * _hann_taper(roi_size)
    nps = np.mean(np.abs(np.fft.fft2(rois)) ** 2, axis=0) / (roi_size * roi_size)
    frequencies = np.fft.fftfreq(roi_size)
    radius = np.hypot(*np.meshgrid(frequencies, frequencies, indexing="ij"))
    rings = np.rint(radius * roi_size).astype(int)
    count = roi_size // 2 + 1  # rings 0 .. Nyquist
    inside = rings < count
    radial = np.bincount(rings[inside], weights=nps[inside], minlength=count) / np.bincount(rings[inside],
                                                                                           minlength=count)
    ring_frequencies = np.arange(count) / roi_size
    return NoiseSpectrum(frequencies=ring_frequencies, radial=radial, peak=_refined_peak(ring_frequencies, radial),
                         centroid=float((ring_frequencies * radial).sum() / radial.sum()),
                         std=float(np.sqrt(nps.mean())), rois=len(rois))


def _refined_peak(frequencies: np.ndarray, radial: np.ndarray) -> float:
    """The vertex of a least-squares parabola through the run of rings around the highest one whose power is at
    least ``PEAK_LEVEL`` of it (at least three rings; the highest ring itself at an end of the spectrum)."""
    top = int(np.argmax(radial))
    if top == 0 or top == len(radial) - 1:
        return float(frequencies[top])
    high = radial >= PEAK_LEVEL * radial[top]
    low, upper = top - 1, top + 1
    while low > 0 and high[low - 1]:
        low -= 1
    while upper < len(radial) - 1 and high[upper + 1]:
        upper += 1
    curvature, slope, _ = np.polyfit(frequencies[low:upper + 1], radial[low:upper + 1], 2)
    if curvature >= 0:
        return float(frequencies[top])
    return float(np.clip(-slope / (2 * curvature), frequencies[low], frequencies[upper]))
