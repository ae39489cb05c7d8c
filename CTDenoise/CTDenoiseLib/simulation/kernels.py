"""Names of the reconstruction kernels the low-dose simulator can give its noise (light: no torch import, so
command-line parsers can list them)."""

KERNELS = ("hann", "shepp-logan", "ram-lak")  # soft to sharp: the ramp filter's window
