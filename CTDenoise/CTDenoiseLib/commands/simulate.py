"""ctdenoise simulate INPUT OUTPUT --dose A: projection-domain low-dose simulation of a normal-dose CT."""

from __future__ import annotations

import argparse

from ..simulation.kernels import DEFAULT_KERNEL, KERNEL_SPECS, KERNELS
from .option_types import DOSE, NON_NEGATIVE, POSITIVE, PROGRESS, SEED, bounded


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser("simulate", help="simulate a lower-dose scan from a normal-dose CT",
                                    description="Insert projection-domain noise (Yu et al. 2012) for a dose fraction.")
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--dose", type=bounded(float, DOSE), required=True, help="dose fraction, e.g. 0.1 for 10 %%")
    parser.add_argument("--seed", type=bounded(int, SEED), default=0)
    parser.add_argument("--slice-thickness", type=bounded(float, POSITIVE), default=None, metavar="MM",
                        help="average adjacent slices into slices this thick (a multiple of the spacing)")
    parser.add_argument("--photons", type=bounded(float, POSITIVE), default=None,
                        help="incident photons per ray at full dose (I0); default: the kernel's (%s; hann's and "
                             "phantom-fbp's give the MITA phantom's real noise std)"
                             % ", ".join(f"{name} {spec.photons:g}" for name, spec in KERNEL_SPECS.items()))
    parser.add_argument("--electronic-noise", type=bounded(float, NON_NEGATIVE), default=None,
                        help="electronic noise variance")
    parser.add_argument("--kernel", choices=KERNELS, default=DEFAULT_KERNEL,
                        help=f"reconstruction kernel of the inserted noise, soft to sharp: hann (coarse grain), "
                             f"phantom-fbp (the texture of real FBP noise on the MITA phantom), shepp-logan, ram-lak "
                             f"(finest, like lung/bone kernels); default {DEFAULT_KERNEL} (hann before the noise "
                             f"texture was calibrated)")
    parser.add_argument("--no-exposure-control", dest="exposure_control", action="store_false",
                        help="keep I0 fixed for every slice (no tube-current modulation: large patients get noisier)")
    parser.add_argument("--progress", **PROGRESS)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import time

    from ..hu import to_int16_hu
    from ..io.plausibility import check_ct_volume
    from ..io.volumes import check_format_holds, check_output_path, read_volume, write_volume
    from ..progress import make_progress
    from ..simulation.low_dose import DoseSimulation, simulate_volume

    started = time.perf_counter()
    progress = make_progress(args.progress)
    output = check_output_path(args.output, inputs=(args.input,))
    overrides = {key: value for key, value in (("photons", args.photons), ("electronic_noise", args.electronic_noise))
                 if value is not None}
    settings = dataclasses.replace(DoseSimulation(dose=args.dose, seed=args.seed, kernel=args.kernel,
                                                  exposure_control=args.exposure_control), **overrides)
    volume = read_volume(args.input)
    check_ct_volume(volume)
    check_format_holds(volume, output)
    low_dose = simulate_volume(volume, settings, args.slice_thickness, on_slice=progress.update)
    write_volume(low_dose.with_array(to_int16_hu(low_dose.array)), output)
    progress.finished(str(output), time.perf_counter() - started)
    return 0
