"""ctdenoise battery: every shipped model against classical baselines on a grid of unseen conditions.

Writes ``battery.csv`` (every score), ``battery.md`` (summary and each model's worst cells) and ``battery.png``
(gain over the reference row, non-local means told each slice's estimated noise, per condition) into the output
folder; see docs/evaluation.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..vocabulary import BASELINE_MODEL, CPU_PRECISIONS, DEFAULT_MODEL
from .option_types import ADAPT_STEPS, bounded

SHARED_DATA = Path("../shared/data")


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "battery", help="robustness battery: models vs NLM and anisotropic diffusion over doses, thicknesses, "
                        "pixel sizes, calibrations and kernels",
        description="Score each model (FP32 and INT8) against the low dose, non-local means (told each slice's noise "
                    "level estimated without the reference: the reference row; told one estimate for the volume; "
                    "and the upper bound, told each slice's true level at its best strength), curvature "
                    "anisotropic diffusion and, where the bm3d package is installed, BM3D, on every condition of a "
                    "grid of unseen data.")
    parser.add_argument("--grid", type=Path, help="grid as JSON (keys of battery_grid.Grid); default: "
                                                  "LIDC-IDRI-0003 over the full grid and the MITA phantom, from "
                                                  f"{SHARED_DATA}")
    parser.add_argument("--quick", action="store_true",
                        help="a small grid (10 %% and 50 %% dose, native geometry, both calibrations, 160-pixel crop "
                             "of 6 slices): minutes, for a first look")
    parser.add_argument("--tune", nargs="?", const="baselines", choices=("baselines", "noise-level-gain"),
                        help="instead of scoring, choose on the grid: 'baselines' (the default) the reference NLM's "
                             "strength and "
                             "diffusion settings (give a --grid of training volumes: the battery's own cases must not "
                             "tune their baselines); 'noise-level-gain' the gain each noise-conditioned model of "
                             "--models is told its input's estimated noise level with (give a --grid of its "
                             "validation volumes), for its card's inference.noise_level_gain")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="CSV",
                        help="instead of scoring, write the report of these battery.csv files (shards of one grid "
                             "run on several machines or processes)")
    parser.add_argument("--models", nargs="+", default=[DEFAULT_MODEL, BASELINE_MODEL])
    parser.add_argument("--precisions", nargs="+", default=list(CPU_PRECISIONS), choices=CPU_PRECISIONS)
    parser.add_argument("--adapt", nargs="?", type=bounded(int, ADAPT_STEPS), const=300, default=None, metavar="STEPS",
                        help="also score each model of --models adapted to each cell's low dose first (as "
                             "`ctdenoise denoise --adapt`, FP32; default 300 steps): rows '<model> FP32 adapted'")
    parser.add_argument("--output-dir", type=Path, default=Path("battery-output"))
    parser.add_argument("--nlm-strength", type=float, default=None,
                        help="h / noise std of the reference-free NLM rows (the upper bound tries its own grid)")
    parser.add_argument("--diffusion-conductance", type=float, default=None)
    parser.add_argument("--diffusion-iterations", type=int, default=None)
    parser.set_defaults(handler=run)


def _grid(args: argparse.Namespace):
    from ..errors import CTDenoiseError
    from ..evaluation.battery_grid import Grid, default_grid

    if args.grid:
        if not args.grid.is_file():
            raise CTDenoiseError(f"Grid file '{args.grid}' does not exist.", "Give a JSON file or leave --grid out.")
        grid = Grid.from_file(args.grid)
    else:
        if not SHARED_DATA.is_dir():
            raise CTDenoiseError(f"The default grid reads {SHARED_DATA} (relative to the working folder), which "
                                 "does not exist.", "Run from the repository root next to ../shared, or give --grid.")
        grid = default_grid(SHARED_DATA)
    if args.quick:
        grid.doses, grid.thicknesses, grid.pixels, grid.kernels = [0.1, 0.5], ["native"], ["native"], ["hann"]
        grid.crop, grid.max_slices = 160, 6
    missing = [path for path in grid.cases.values() if not Path(path).exists()]
    if missing:
        raise CTDenoiseError(f"Grid volume '{missing[0]}' does not exist.", "Fix the grid's cases.")
    return grid


def _report(rows: list[dict], output_dir: Path, machine: str, skipped: dict[str, str] | None = None) -> None:
    from ..evaluation.battery_report import heat_map, markdown, write_csv
    from ..io.volumes import make_output_folder

    make_output_folder(output_dir)
    write_csv(rows, output_dir / "battery.csv")
    summary = markdown(rows, skipped=skipped) + f"\nMachine: {machine}.\n"
    (output_dir / "battery.md").write_text(summary, encoding="utf-8")
    heat_map(rows, output_dir / "battery.png")
    print(summary)
    print(f"wrote {output_dir / 'battery.csv'}, battery.md and battery.png")


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from ..benchmark.cpu_peak import cpu_info
    from ..evaluation.battery import model_methods, run_battery
    from ..evaluation.battery_baselines import classical_methods, optional_methods
    from ..evaluation.classical_denoisers import DiffusionSettings, NlmSettings

    if args.merge:
        from ..errors import CTDenoiseError
        from ..evaluation.battery_report import missing_baselines, read_csv

        missing = [path for path in args.merge if not path.is_file()]
        if missing:
            raise CTDenoiseError(f"Battery CSV '{missing[0]}' does not exist.", "Give the battery.csv of each shard.")
        rows = read_csv(args.merge)
        absent = missing_baselines(rows)
        if absent:
            raise CTDenoiseError(f"The battery CSV has cells without the row '{absent[0]}' (written by an older "
                                 "ctdenoise, before that row existed).", "Rerun the battery to judge the models.")
        _report(rows, args.output_dir, cpu_info().describe())
        return 0
    grid = _grid(args)
    nlm = NlmSettings() if args.nlm_strength is None else NlmSettings(strength=args.nlm_strength)
    diffusion = DiffusionSettings()
    if args.diffusion_conductance is not None:
        diffusion = dataclasses.replace(diffusion, conductance=args.diffusion_conductance)
    if args.diffusion_iterations is not None:
        diffusion = dataclasses.replace(diffusion, iterations=args.diffusion_iterations)
    cpu = cpu_info()
    print(f"machine: {cpu.describe()}")
    if args.tune == "noise-level-gain":
        from ..errors import CTDenoiseError
        from ..evaluation.noise_gain_tuning import takes_noise_level, tune_noise_level_gain

        conditioned = [model for model in args.models if takes_noise_level(model)]
        if not conditioned:
            raise CTDenoiseError(f"None of {', '.join(args.models)} is noise-conditioned: no gain to tune.",
                                 "Give --models with a noise-conditioned model (card config \"noise_input\": true).")
        for model in sorted(set(args.models) - set(conditioned)):
            print(f"{model}: blind (no noise-level input), nothing to tune")
        for model in conditioned:
            gain, _ = tune_noise_level_gain(grid, model)
            print(f"best for {model}: \"inference\": {{\"noise_level_gain\": {gain:g}}} in its card")
        return 0
    if args.tune:
        from ..evaluation.battery_baselines import tune_baselines

        best_nlm, best_diffusion, _ = tune_baselines(grid)
        print(f"best NLM {json.dumps(best_nlm.to_dict())}; best anisotropic diffusion "
              f"{json.dumps(best_diffusion.to_dict())}")
        return 0
    print(f"NLM {json.dumps(nlm.to_dict())}; anisotropic diffusion {json.dumps(diffusion.to_dict())}")
    optional, skipped = optional_methods()
    for name, why in skipped.items():
        print(f"{name}: not run: {why}")
    methods = {**classical_methods(nlm, diffusion), **optional, **model_methods(args.models, args.precisions)}
    if args.adapt:
        from ..evaluation.battery import adapted_methods
        from ..inference.adaptation import Adaptation

        methods.update(adapted_methods(args.models, Adaptation(steps=args.adapt)))
    from ..io.volumes import make_output_folder

    make_output_folder(args.output_dir)  # before the hours of work it will hold
    rows = run_battery(grid, methods)
    _report(rows, args.output_dir, cpu.describe(), skipped)
    return 0
