"""ctdenoise noise-spectrum: the simulator's noise texture against the MITA phantom's real FBP noise (noise power
spectrum peak and centroid, noise std), per dose and kernel; the table of docs/evaluation.md, "Noise texture"."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..simulation.kernels import KERNELS
from .detectability import DEFAULT_PHANTOM
from .option_types import POSITIVE, bounded

REAL_SCAN_DOSES = (0.1, 0.55, 1.0)


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "noise-spectrum", help="noise power spectrum of the simulator's noise vs the MITA phantom's real noise",
        description="Noise power spectrum (ROIs, detrended, radially averaged; ICRU 87) of the MITA phantom's real "
                    "noise (each realisation minus the mean of the others) and of the simulator's noise inserted "
                    "into the noise-free phantom, per dose and kernel: peak and centroid in cycles/pixel, std in "
                    "HU, simulated rows with their difference from the real ones.")
    parser.add_argument("--phantom", type=Path, default=DEFAULT_PHANTOM,
                        help=f"folder with ground_truth.mhd and dose_*/signal_absent/ (default {DEFAULT_PHANTOM})")
    parser.add_argument("--doses", nargs="+", type=float, default=[0.1, 0.55], choices=REAL_SCAN_DOSES,
                        help="doses with real scans to compare (default 0.1 0.55)")
    parser.add_argument("--kernels", nargs="+", choices=KERNELS, default=list(KERNELS),
                        help="simulator kernels to measure (default: all)")
    parser.add_argument("--realisations", type=bounded(int, POSITIVE), default=10,
                        help="simulated noise images per dose and kernel (default 10, as the real scans)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import CTDenoiseError
    from ..evaluation.noise_texture import markdown, texture_table

    if not (args.phantom / "ground_truth.mhd").is_file():
        raise CTDenoiseError(f"No MITA phantom at '{args.phantom}' (ground_truth.mhd missing).",
                             "Give --phantom DIR, or run from the repository root next to ../shared.")
    print(markdown(texture_table(args.phantom, tuple(args.doses), tuple(args.kernels), args.realisations)), end="")
    return 0
