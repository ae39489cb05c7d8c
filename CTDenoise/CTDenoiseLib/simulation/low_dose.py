"""Low-dose simulation by projection-domain noise insertion (Yu et al. 2012) into a normal-dose CT.

Per axial slice: forward-project (parallel beam) to get line integrals p, draw the extra noise that takes
photon statistics from full dose to dose fraction ``a``,

    p_low = p + sqrt((1-a)/a * e^p/I0 * (1 + (1+a)/a * se2 * e^p/I0)) * N(0, 1),

filtered-back-project only that noise, and add it to the slice. The scan's own noise is kept, so the result
has the noise of a scan taken at ``a`` times the dose. ``I0`` (photons per ray per view at full dose) was
calibrated on the MITA phantom scanned at 10 / 55 / 100 % dose, per kernel (see ``PHANTOM_CALIBRATION``).

Exposure control: scanners raise the tube current for larger patients, so a fixed I0 would starve the
projections of a 35 cm abdomen (noise of several hundred HU). Per slice, I0 is multiplied by
``exp(p98 - REFERENCE_LINE_INTEGRAL)`` when the slice's 98th-percentile line integral ``p98`` exceeds that of
the calibration phantom, which keeps the most attenuated rays at the phantom's photon count.

Reconstruction kernel of the inserted noise (``kernel``, ``kernels.KERNEL_SPECS``): the ramp filter times a
window. ``phantom-fbp`` (the default) is a Hann window reaching zero at 1.5x the detector's Nyquist frequency,
fitted so that the noise power spectrum of the MITA phantom's real 10 % dose scans is reproduced (peak 0.18,
centroid 0.22 cycles/pixel; docs/evaluation.md, "Noise texture"); ``hann`` rolls off to zero at Nyquist (coarser
grain, peak 0.13); ``shepp-logan`` keeps 64 % there and ``ram-lak`` (no window) all of it, so their noise is
finer-grained and stronger, as with the sharper lung and bone kernels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import CTDenoiseError
from ..io.volumes import Volume
from .kernels import DEFAULT_KERNEL, KERNEL_SPECS, KERNELS

MU_WATER_PER_MM = 0.0192  # linear attenuation of water at ~70 keV effective energy
REFERENCE_LINE_INTEGRAL = 4.5  # the MITA phantom's 98th-percentile line integral (about 23 cm of water)
PHANTOM_CALIBRATION = (
    "I0 chosen per kernel (phantom-fbp, hann) so that noise inserted into the MITA phantom's 100 % dose scans "
    "(1 mm pixels) reproduces the median noise std of its real 10 % and 55 % dose scans; phantom-fbp's window "
    "so that its noise power spectrum matches theirs; see Testing/Python/test_simulation.py and "
    "test_noise_spectrum.py."
)


@dataclass(frozen=True)
class DoseSimulation:
    """Settings of the low-dose simulation, checked on construction.

    Attributes:
        dose: the simulated dose as a fraction of the input scan's, strictly between 0 and 1.
        photons: I0, incident photons per ray per view at full dose (effective, for this projector); > 0.
            None (the default): the kernel's calibrated I0 (``kernels.KERNEL_SPECS``, ``incident_photons``).
        electronic_noise: electronic noise variance in photons^2, at the same effective scale as I0; >= 0.
        views: projection views over 180 degrees; >= 16.
        seed: seed of the noise draw.
        exposure_control: raise I0 per slice for slices more attenuating than the calibration phantom (see the
            module's docstring).
        kernel: window of the ramp filter for the inserted noise, one of ``KERNELS`` (default
            ``phantom-fbp``, the texture of real FBP noise on the MITA phantom).

    Raises:
        CTDenoiseError: ``kernel`` is not one of ``KERNELS``, ``dose`` is not strictly between 0 and 1, or
            ``photons``, ``electronic_noise`` or ``views`` is out of range.
    """

    dose: float = 0.1
    photons: float | None = None  # I0 at full dose, per ray per view; None: the kernel's calibrated I0
    electronic_noise: float = 2.0  # variance, in photons^2 at the same effective scale as I0
    views: int = 720  # over 180 degrees
    seed: int = 0
    exposure_control: bool = True
    kernel: str = DEFAULT_KERNEL  # window of the ramp filter: one of KERNELS

    def __post_init__(self) -> None:
        _check_kernel(self.kernel)
        if not 0.0 < self.dose < 1.0:
            raise CTDenoiseError(f"Dose fraction must be between 0 and 1 (exclusive), got {self.dose}.",
                                 "Use e.g. --dose 0.1 for 10 % of the original dose.")
        if (self.photons is not None and self.photons <= 0) or self.electronic_noise < 0 or self.views < 16:
            raise CTDenoiseError("Photons must be > 0, electronic noise >= 0 and views >= 16.")

    @property
    def incident_photons(self) -> float:
        """I0 at full dose: ``photons`` where given, else the kernel's calibrated I0."""
        return self.photons if self.photons is not None else KERNEL_SPECS[self.kernel].photons

    def to_dict(self) -> dict:
        """The settings as a plain dict (field name -> value), e.g. for a JSON record. ``photons`` stays None
        where it was not given, so that ``DoseSimulation(**{**to_dict(), "kernel": other})`` takes the other
        kernel's I0."""
        return asdict(self)


def _check_kernel(kernel: str) -> None:
    if kernel not in KERNELS:
        raise CTDenoiseError(f"Unknown reconstruction kernel '{kernel}'.", f"Use one of {', '.join(KERNELS)}.")


def _square_pixel_mm(volume: Volume) -> float:
    """The in-plane pixel size in mm, refused where x and y spacing differ by more than 1 %."""
    spacing_x, spacing_y = volume.spacing[0], volume.spacing[1]
    if abs(spacing_x - spacing_y) > 0.01 * spacing_x:
        raise CTDenoiseError(f"Pixels are not square ({spacing_x:.4g} x {spacing_y:.4g} mm).",
                             "Resample the volume to square pixels first.")
    return spacing_x


def _attenuation(hu: torch.Tensor, pixel_mm: float) -> torch.Tensor:
    """Attenuation per pixel length; values below air (scanner padding) count as air."""
    return MU_WATER_PER_MM * torch.clamp(1.0 + hu / 1000.0, min=0.0) * pixel_mm


def _ramp_filter(size: int, kernel: str = "hann") -> torch.Tensor:
    """Ramp filter times the ``kernel``'s window, in the frequency domain, for a zero-padded row of ``size``."""
    _check_kernel(kernel)
    spec = KERNEL_SPECS[kernel]
    frequencies = torch.fft.rfftfreq(size)
    if spec.window == "hann":  # zero at cutoff x Nyquist (and beyond)
        window = 0.5 * (1.0 + torch.cos(2.0 * math.pi * frequencies / spec.cutoff))
        window = torch.where(frequencies <= spec.cutoff / 2, window, torch.zeros_like(window))
    elif spec.window == "sinc":
        window = torch.sinc(frequencies)  # Shepp-Logan: 2/pi at Nyquist
    else:
        window = torch.ones_like(frequencies)  # Ram-Lak
    return frequencies * window


class ParallelBeam:
    """Parallel-beam projector and backprojector for square-ish slices, on torch tensors (slices as channels)."""

    def __init__(self, height: int, width: int, views: int) -> None:
        """
        Args:
            height: slice height (Y) in pixels.
            width: slice width (X) in pixels.
            views: projection angles, evenly spaced over 180 degrees.
        """
        self.height, self.width, self.views = height, width, views
        self.detector = int(math.ceil(math.hypot(height, width))) | 1
        self.angles = torch.arange(views, dtype=torch.float64) * (math.pi / views)

    def _normalised_pixel_grid(self) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(self.height, dtype=torch.float32) - (self.height - 1) / 2
        x = torch.arange(self.width, dtype=torch.float32) - (self.width - 1) / 2
        return torch.meshgrid(y, x, indexing="ij")

    def forward_project(self, slices: torch.Tensor, chunk: int = 32) -> torch.Tensor:
        """(C, H, W) attenuation per pixel -> (C, views, detector) line integrals in pixel units.

        Args:
            slices: attenuation per pixel length (C, H, W), slices as channels.
            chunk: views projected at once (memory against speed).

        Returns:
            The sinogram (C, views, detector); ``detector`` is the odd number of bins covering the slice's
            diagonal, one pixel apart.
        """
        half = (self.detector - 1) / 2
        t = torch.arange(self.detector, dtype=torch.float32) - half
        s = t.clone()
        rows = []
        image = slices.unsqueeze(0)
        for start in range(0, self.views, chunk):
            theta = self.angles[start:start + chunk].float()
            cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
            ss, tt = torch.meshgrid(s, t, indexing="ij")
            x = tt * cos - ss * sin
            y = tt * sin + ss * cos
            grid = torch.stack((x / ((self.width - 1) / 2), y / ((self.height - 1) / 2)), dim=-1)
            sampled = F.grid_sample(image.expand(len(theta), -1, -1, -1), grid, mode="bilinear",
                                    padding_mode="zeros", align_corners=True)
            rows.append(sampled.sum(dim=2))  # (chunk, C, detector)
        return torch.cat(rows).permute(1, 0, 2).contiguous()

    def filtered_backproject(self, sinogram: torch.Tensor, chunk: int = 32, kernel: str = "hann") -> torch.Tensor:
        """(C, views, detector) -> (C, H, W), inverse of ``forward_project`` up to the filter's band limit.

        Args:
            sinogram: line integrals, (C, views, detector).
            chunk: views back-projected at once (memory against speed).
            kernel: window of the ramp filter, one of ``KERNELS``.

        Returns:
            The reconstructed slices (C, H, W), attenuation per pixel length.

        Raises:
            CTDenoiseError: ``kernel`` is not one of ``KERNELS``.
        """
        padded = 1 << (2 * self.detector - 1).bit_length()
        spectrum = torch.fft.rfft(sinogram, n=padded, dim=-1) * _ramp_filter(padded, kernel)
        filtered = torch.fft.irfft(spectrum, n=padded, dim=-1)[..., : self.detector]
        yy, xx = self._normalised_pixel_grid()
        image = torch.zeros(sinogram.shape[0], self.height, self.width)
        half = (self.detector - 1) / 2
        for start in range(0, self.views, chunk):
            theta = self.angles[start:start + chunk].float()
            t = xx[None] * torch.cos(theta)[:, None, None] + yy[None] * torch.sin(theta)[:, None, None]
            grid = torch.stack((t / half, torch.zeros_like(t)), dim=-1)  # (chunk, H, W, 2)
            rows = filtered[:, start:start + chunk].permute(1, 0, 2).unsqueeze(2)  # (chunk, C, 1, detector)
            image += F.grid_sample(rows, grid, mode="bilinear", padding_mode="zeros", align_corners=True).sum(0)
        return image * (math.pi / self.views)


def _photons_per_slice(p: torch.Tensor, settings: DoseSimulation) -> torch.Tensor:
    """(C, 1, 1) incident photons for each slice of line integrals ``p`` (C, views, detector)."""
    photons = torch.full((p.shape[0], 1, 1), settings.incident_photons)
    if settings.exposure_control:
        p98 = torch.quantile(p.reshape(p.shape[0], -1)[:, ::7], 0.98, dim=1)
        photons = photons * torch.exp(torch.clamp(p98 - REFERENCE_LINE_INTEGRAL, min=0.0))[:, None, None]
    return photons


def _noise_std(p: torch.Tensor, settings: DoseSimulation) -> torch.Tensor:
    a = settings.dose
    transmission = torch.exp(p) / _photons_per_slice(p, settings)
    variance = (1 - a) / a * transmission * (1 + (1 + a) / a * settings.electronic_noise * transmission)
    return torch.sqrt(variance)


def _line_integrals(mu: torch.Tensor, coarse: int, coarse_beam: ParallelBeam, detector: int) -> torch.Tensor:
    if coarse == 1:
        return coarse_beam.forward_project(mu)
    pooled = F.avg_pool2d(mu.unsqueeze(0), coarse, ceil_mode=True).squeeze(0) * coarse
    p = coarse_beam.forward_project(pooled)
    return F.interpolate(p, size=detector, mode="linear", align_corners=True)


def simulate_low_dose_hu(hu: np.ndarray, pixel_mm: float, settings: DoseSimulation,
                         on_slice: Callable[[int, int], None] | None = None, batch: int = 8) -> np.ndarray:
    """Return ``hu`` (Z, Y, X) with the noise of ``settings.dose`` times the dose; the input is not changed.

    Args:
        hu: the normal-dose volume (Z, Y, X) in HU; values below air (-1000 HU) count as air.
        pixel_mm: the in-plane pixel size in mm (square pixels).
        settings: dose, photon counts, views, seed, exposure control and kernel.
        on_slice: called with (slices done, slices) after each batch.
        batch: slices simulated at once (memory against speed).

    Returns:
        The low-dose volume (Z, Y, X), float32 HU.

    Raises:
        CTDenoiseError: ``hu`` is not 3D.
    """
    if hu.ndim != 3:
        raise CTDenoiseError(f"Simulation needs a 3D volume, got shape {hu.shape}.")
    generator = torch.Generator().manual_seed(settings.seed)
    depth, height, width = hu.shape
    beam = ParallelBeam(height, width, settings.views)
    # Line integrals only set the noise variance, which varies slowly: project a coarser copy (4-16x faster).
    coarse = max(1, max(height, width) // 256)
    coarse_beam = ParallelBeam(-(-height // coarse), -(-width // coarse), settings.views)
    result = np.empty(hu.shape, dtype=np.float32)
    with torch.no_grad():
        for start in range(0, depth, batch):
            chunk = torch.from_numpy(np.asarray(hu[start:start + batch], dtype=np.float32))
            mu = _attenuation(chunk, pixel_mm)
            p = _line_integrals(mu, coarse, coarse_beam, beam.detector)
            noise = torch.randn(p.shape, generator=generator) * _noise_std(p, settings)
            noise_mu = beam.filtered_backproject(noise, kernel=settings.kernel)
            result[start:start + batch] = (chunk + 1000.0 * noise_mu / (MU_WATER_PER_MM * pixel_mm)).numpy()
            if on_slice:
                on_slice(min(start + batch, depth), depth)
    return result


def thicken_slices(volume: Volume, thickness_mm: float) -> Volume:
    """Average groups of adjacent slices into slices ``thickness_mm`` thick (an integer multiple of the spacing).

    Args:
        volume: the volume; its slice spacing (``spacing[2]``, mm) sets the group size.
        thickness_mm: the new slice thickness in mm, a whole multiple of the spacing (to 5 % of the spacing).

    Returns:
        ``volume`` itself where the thickness is its spacing; otherwise float32 slices, each the mean of its
        group (trailing slices that fill no whole group are dropped), with the slice spacing multiplied and the
        origin moved to the centre of the first group.

    Raises:
        CTDenoiseError: ``thickness_mm`` is not a whole multiple of the slice spacing, or the volume has fewer
            slices than one group.
    """
    spacing_z = volume.spacing[2]
    factor = int(round(thickness_mm / spacing_z))
    if factor < 1 or abs(factor * spacing_z - thickness_mm) > 0.05 * spacing_z:
        raise CTDenoiseError(
            f"Slice thickness {thickness_mm} mm is not a whole multiple of the slice spacing {spacing_z:.4g} mm.",
            f"Use a multiple such as {2 * spacing_z:.4g} mm.")
    if factor == 1:
        return volume
    depth = volume.array.shape[0] // factor
    if depth < 1:
        raise CTDenoiseError(f"The volume has fewer than {factor} slices to combine into {thickness_mm} mm.")
    grouped = volume.array[: depth * factor].astype(np.float32).reshape(depth, factor, *volume.array.shape[1:])
    direction = np.asarray(volume.direction).reshape(3, 3)
    # The new slice centre is the mean of the combined centres: shift the origin half the old extent.
    origin = np.asarray(volume.origin) + direction[:, 2] * spacing_z * (factor - 1) / 2
    return Volume(array=grouped.mean(axis=1), spacing=(volume.spacing[0], volume.spacing[1], spacing_z * factor),
                  origin=tuple(origin), direction=volume.direction)


def simulate_volume(volume: Volume, settings: DoseSimulation, slice_thickness_mm: float | None = None,
                    on_slice: Callable[[int, int], None] | None = None) -> Volume:
    """Low-dose version of a HU volume; voxels outside -1024..3071 HU (scanner padding) keep their value.

    Args:
        volume: the normal-dose volume in HU, with square pixels (x and y spacing within 1 %).
        settings: the simulation's settings.
        slice_thickness_mm: where given (and not 0), the simulated volume's slices are then averaged into slices
            this thick, in mm (``thicken_slices``, whose errors propagate).
        on_slice: called with (slices done, slices) as the simulation progresses.

    Returns:
        The low-dose volume with ``volume``'s geometry (or the thickened one's).

    Raises:
        CTDenoiseError: the pixels are not square.
    """
    hu = volume.array
    low = simulate_low_dose_hu(hu, _square_pixel_mm(volume), settings, on_slice)
    outside = (hu < -1024) | (hu > 3071)
    low[outside] = hu[outside]
    result = volume.with_array(low)
    return thicken_slices(result, slice_thickness_mm) if slice_thickness_mm else result


def scanner_image(volume: Volume, kernel: str = "hann", views: int = DoseSimulation.views,
                  batch: int = 8) -> Volume:
    """``volume`` as a scanner images it without noise: each slice forward-projected (parallel beam) and
    reconstructed by filtered back-projection with ``kernel``, so that its edges carry a reconstruction's blur.
    A synthetic phantom's step edges hold detail up to the pixel grid's Nyquist frequency, which no CT image has;
    a denoiser is judged on the reconstructed phantom, as on a scan (docs/training.md, section 14).

    Args:
        volume: the object in HU (Z, Y, X), square pixels; values below air count as air.
        kernel: the reconstruction kernel, one of ``KERNELS`` (``hann``, the softest, by default).
        views: projection views over 180 degrees.
        batch: slices reconstructed at once (memory against speed).

    Returns:
        The reconstructed volume in int16 HU, ``volume``'s geometry.

    Raises:
        CTDenoiseError: ``kernel`` is not one of ``KERNELS``, or the pixels are not square.
    """
    from ..hu import to_int16_hu

    _check_kernel(kernel)
    pixel_mm = _square_pixel_mm(volume)
    depth, height, width = volume.array.shape
    beam = ParallelBeam(height, width, views)
    result = np.empty(volume.array.shape, dtype=np.float32)
    with torch.no_grad():
        for start in range(0, depth, batch):
            chunk = torch.from_numpy(np.asarray(volume.array[start:start + batch], dtype=np.float32))
            mu = _attenuation(chunk, pixel_mm)
            reconstructed = beam.filtered_backproject(beam.forward_project(mu), kernel=kernel)
            # A ramp filter sampled with zero at zero frequency leaves each slice a small constant offset (-6 to
            # -9 HU); restore each slice's mean attenuation, as a scanner's calibration does.
            reconstructed = reconstructed + (mu.mean(dim=(1, 2), keepdim=True)
                                             - reconstructed.mean(dim=(1, 2), keepdim=True))
            result[start:start + batch] = ((reconstructed / (MU_WATER_PER_MM * pixel_mm) - 1.0) * 1000.0).numpy()
    return volume.with_array(to_int16_hu(result))
