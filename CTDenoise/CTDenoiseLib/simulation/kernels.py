"""The reconstruction kernels the low-dose simulator can give its noise, as data (light: no torch import, so
command-line parsers can list them).

A kernel is the ramp filter times a window of the detector frequency ``f`` (cycles per detector bin; the
simulator's bins are one pixel wide, so its Nyquist frequency is 0.5 cycles/pixel):

- ``hann``: ``0.5 (1 + cos(2 pi f / cutoff))``, zero at ``cutoff`` times the Nyquist frequency (beyond it: 0).
  ``cutoff`` is the one of MIRT's ``fbp2_window('hanning,cutoff')``, the reconstruction that made the MITA
  phantom's scans; cutoff 1 is the textbook Hann window.
- ``sinc``: the Shepp-Logan window ``sinc(f)``, 2/pi at the Nyquist frequency.
- ``none``: the bare ramp (Ram-Lak).

Each kernel also names its default I0 (``photons``), the photons per ray per view at full dose that the simulator
uses when none is given: a sharper window passes more high-frequency noise, so at one I0 its noise is stronger.
``phantom-fbp`` and ``hann`` were each fitted so that the MITA phantom's real 10 % and 55 % dose scans get their
noise standard deviation back; ``phantom-fbp``'s cutoff was fitted so that its noise power spectrum (peak and
centroid) matches theirs (docs/evaluation.md, "Noise texture"). ``shepp-logan`` and ``ram-lak`` keep ``hann``'s
I0: they stand for sharper kernels of the same acquisition, with finer and stronger noise (lung, bone).
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOWS = ("hann", "sinc", "none")


@dataclass(frozen=True)
class Kernel:
    """One reconstruction kernel of the simulator (see the module's docstring).

    Attributes:
        window: the ramp filter's window, one of ``WINDOWS``.
        cutoff: for ``hann``, where the window reaches zero, in multiples of the Nyquist frequency; else 1.
        photons: the default I0 with this kernel, photons per ray per view at full dose (effective, for the
            simulator's projector).
        description: what it stands for, for help texts and docs.
    """

    window: str
    cutoff: float
    photons: float
    description: str


KERNEL_SPECS = {  # soft to sharp
    "hann": Kernel("hann", 1.0, 2.5e4, "Hann window to zero at Nyquist: the softest, coarse grain"),
    "phantom-fbp": Kernel("hann", 1.5, 6.0e4, "Hann window to zero at 1.5x Nyquist: the noise texture of the "
                                              "MITA phantom's FBP scans"),
    "shepp-logan": Kernel("sinc", 1.0, 2.5e4, "Shepp-Logan window: finer, stronger noise"),
    "ram-lak": Kernel("none", 1.0, 2.5e4, "bare ramp: the finest and strongest noise, like lung and bone kernels"),
}
KERNELS = tuple(KERNEL_SPECS)
DEFAULT_KERNEL = "phantom-fbp"
