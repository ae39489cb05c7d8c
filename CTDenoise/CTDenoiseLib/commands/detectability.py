"""ctdenoise detectability: low-contrast detectability (channelized Hotelling and non-prewhitening observers) of
every model, NLM and the acquired images on the MITA phantom, real scans and simulated realisations.

Writes ``detectability.csv`` (every row), ``detectability.md`` (the tables), ``detectability.json`` (settings,
inserts, machine) and ``detectability.png`` (AUC vs dose per insert, one line per method); see docs/evaluation.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..vocabulary import CPU_PRECISIONS
from .option_types import ADAPT_STEPS, bounded

DEFAULT_PHANTOM = Path("../shared/data/lcd_ct_phantom/fbp")


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "detectability", help="low-contrast detectability (CHO, NPW: AUC and d') of each denoiser on the MITA phantom",
        description="Channelized Hotelling observer (Laguerre-Gauss channels, width tuned to each insert) and "
                    "non-prewhitening observer on the MITA CCT189 phantom's four inserts: AUC and d' with bootstrap "
                    "95 %% intervals for the acquired images, each model at each precision and NLM, on the real "
                    "scans and on realisations simulated by the engine's projection-domain simulator.")
    parser.add_argument("--phantom", type=Path, default=DEFAULT_PHANTOM,
                        help=f"folder with ground_truth.mhd and dose_*/signal_*/ (default {DEFAULT_PHANTOM})")
    parser.add_argument("--config", type=Path, help="settings as JSON (keys of DetectabilitySettings); "
                                                    "options given on the command line override it")
    parser.add_argument("--realisations", type=int, help="simulated realisations per class and dose")
    parser.add_argument("--simulated-doses", nargs="*", type=float, help="dose fractions to simulate (none: only "
                                                                         "the real scans)")
    parser.add_argument("--models", nargs="*", help="models to score (none: only the acquired images and NLM)")
    parser.add_argument("--precisions", nargs="+", choices=CPU_PRECISIONS)
    parser.add_argument("--no-nlm", action="store_true", help="leave non-local means out")
    parser.add_argument("--denoise-as", choices=("slice", "stack"),
                        help="slice (default): each realisation denoised as its own one-slice volume; stack: each "
                             "class's realisations as one volume, as the phantom's rods run along z (denoised "
                             "neighbours then share information: intervals too narrow)")
    parser.add_argument("--bootstrap", type=int, help="bootstrap resamples for the 95 %% intervals")
    parser.add_argument("--paired-against", metavar="METHOD",
                        help="compare every method's CHO d' with this one's on the same realisations, with a paired "
                             "bootstrap interval of the difference (a method as the tables name it, e.g. "
                             "'stresnet int8'): the lesion-safety check of a candidate against the shipped model")
    parser.add_argument("--adapt", type=bounded(int, ADAPT_STEPS), default=None, metavar="STEPS", dest="adapt_steps",
                        help="also score each model in FP32 adapted to each image set first (as `ctdenoise denoise "
                             "--adapt` with STEPS steps, e.g. 300): rows '<model> fp32 adapted'")
    parser.add_argument("--output-dir", type=Path, default=Path("detectability-output"))
    parser.set_defaults(handler=run)


def settings_from(args: argparse.Namespace):
    """DetectabilitySettings from ``--config`` and the options."""
    import json

    from ..errors import CTDenoiseError
    from ..evaluation.detectability import DetectabilitySettings, method_names
    from ..simulation.kernels import KERNELS

    values: dict = {}
    if args.config:
        if not args.config.is_file():
            raise CTDenoiseError(f"Settings file '{args.config}' does not exist.", "Give a JSON file.")
        values = json.loads(args.config.read_text(encoding="utf-8"))
        unknown = set(values) - set(DetectabilitySettings().to_dict())
        if unknown:
            raise CTDenoiseError(f"Unknown settings in {args.config}: {', '.join(sorted(unknown))}.",
                                 f"Use the keys of {', '.join(DetectabilitySettings().to_dict())}.")
    for option, key in (("realisations", "simulated_realisations"), ("simulated_doses", "simulated_doses"),
                        ("models", "models"), ("precisions", "precisions"), ("bootstrap", "bootstrap"),
                        ("denoise_as", "denoise_as"), ("paired_against", "paired_against"),
                        ("adapt_steps", "adapt_steps")):
        if getattr(args, option) is not None:
            values[key] = getattr(args, option)
    if args.no_nlm:
        values["nlm"] = False
    settings = DetectabilitySettings(**values)
    if any(not 0 < dose <= 1 for dose in settings.simulated_doses):
        raise CTDenoiseError("Simulated doses must be in (0, 1].", "Use e.g. --simulated-doses 0.1 0.25 0.55 1.")
    if settings.simulated_kernel not in KERNELS:
        raise CTDenoiseError(f"Unknown simulated_kernel '{settings.simulated_kernel}'.",
                             f"Use one of {', '.join(KERNELS)}.")
    names = method_names(settings)
    if settings.paired_against and settings.paired_against not in names:
        raise CTDenoiseError(f"--paired-against '{settings.paired_against}' is not one of the methods this run "
                             f"scores ({', '.join(names)}).", "Name one of them, e.g. 'stresnet int8'.")
    return settings


def run(args: argparse.Namespace) -> int:
    import json
    import time

    from ..benchmark.cpu_peak import cpu_info
    from ..errors import CTDenoiseError
    from ..evaluation.detectability import insert_geometry, paired_rows, run_study
    from ..evaluation.detectability_report import figure, markdown, paired_markdown, write_csv, write_paired_csv
    from ..io.volumes import make_output_folder
    from ..simulation.lcd_phantom import ground_truth

    settings = settings_from(args)
    if not (args.phantom / "ground_truth.mhd").is_file():
        raise CTDenoiseError(f"No MITA phantom at '{args.phantom}' (ground_truth.mhd missing).",
                             "Give --phantom DIR, or run from the repository root next to ../shared.")
    machine = cpu_info().describe()
    output = make_output_folder(args.output_dir)
    start = time.perf_counter()
    rows = run_study(args.phantom, settings)
    seconds = time.perf_counter() - start
    write_csv(rows, output / "detectability.csv")
    table = markdown(rows)
    if settings.paired_against:
        paired = paired_rows(rows, settings.paired_against)
        write_paired_csv(paired, output / "detectability-paired.csv")
        table += "\n" + paired_markdown(paired)
    (output / "detectability.md").write_text(table, encoding="utf-8")
    geometries = [{"insert": g.insert.name, "centre": g.insert.centre, "contrast_hu": g.insert.contrast_hu,
                   "diameter_px": g.insert.diameter_px, "roi_px": g.roi_size, "channel_width_px": g.channel_width}
                  for g in insert_geometry(ground_truth(args.phantom), settings)]
    (output / "detectability.json").write_text(json.dumps(
        {"settings": settings.to_dict(), "inserts": geometries, "machine": machine, "seconds": round(seconds, 1),
         "notes": ["simulated rows: noise inserted into the noise-free ground truth by the engine's projection-"
                   "domain simulator (1 mm pixels), dose d simulated with dose fraction d / (1 + d)",
                   "each realisation is denoised as its own one-slice volume" if settings.denoise_as == "slice" else
                   "each class's realisations are denoised as one volume (stack): denoised neighbours share "
                   "information, so realisations are not independent and the intervals are too narrow"]},
        indent=2), encoding="utf-8")
    print(table)
    try:
        figure(rows, output / "detectability.png")
        print(f"wrote {output / 'detectability.csv'}, detectability.md, detectability.json and detectability.png "
              f"({seconds:.0f} s; {machine})")
    except CTDenoiseError as error:  # matplotlib missing: the tables do not need it
        print(f"wrote {output / 'detectability.csv'}, detectability.md and detectability.json; no figure "
              f"({error})")
    return 0
