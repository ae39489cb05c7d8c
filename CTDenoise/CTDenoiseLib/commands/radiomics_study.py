"""ctdenoise radiomics-study CASES... : nodules x simulated low-dose realisations x {low dose, each model},
features compared with normal dose (paired t-test, Wilcoxon, Lin's CCC), tables and a figure."""

from __future__ import annotations

import argparse

from .option_types import PROGRESS, SEED, bounded


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "radiomics-study", help="radiomics robustness study: low dose and each model against normal dose",
        description="For each case folder (a CT and its nodule mask), simulate several low-dose realisations, "
                    "denoise them with each model, and compare the nodule's radiomics features with normal dose "
                    "over all pairs. Writes study_features.csv, study_agreement.csv, study_quality*.csv, "
                    "study.json and radiomics_study.png.")
    parser.add_argument("cases", nargs="+", help="case folders, or a folder of case folders (e.g. ../shared/data/lidc)")
    parser.add_argument("--image-name", default="image.nrrd")
    parser.add_argument("--mask-name", default="nodule_consensus50.nrrd")
    parser.add_argument("--label", type=int, default=None, help="nodule label in the masks (default: the only one)")
    parser.add_argument("--models", nargs="*", default=None, help="registered models (default: all registered)")
    parser.add_argument("--realisations", type=int, default=5, help="noise realisations per case (default 5)")
    parser.add_argument("--dose", type=float, default=0.1, help="simulated dose fraction (default 0.1)")
    parser.add_argument("--seed", type=bounded(int, SEED), default=0)
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level of the tests (default 0.05)")
    parser.add_argument("--ccc-threshold", type=float, default=0.9, help="Lin's CCC for 'consistent' (default 0.9)")
    parser.add_argument("--params", default=None, help="pyradiomics parameter file (default: the shipped one)")
    parser.add_argument("--output-dir", default="radiomics-study")
    parser.add_argument("--progress", **PROGRESS)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..models.registry import list_models
    from ..progress import make_progress
    from ..radiomics.study import find_cases, run_study
    from ..simulation.low_dose import DoseSimulation

    models = args.models if args.models is not None else [entry.name for entry in list_models()]
    summary = run_study(find_cases(args.cases, args.image_name, args.mask_name), models, args.realisations,
                        DoseSimulation(dose=args.dose, seed=args.seed), args.output_dir, args.label, args.params,
                        args.alpha, args.ccc_threshold, make_progress(args.progress))
    if args.progress != "json":
        print(f"{len(summary['cases'])} cases x {args.realisations} realisations = {summary['pairs_per_method']} pairs "
              f"per method; {summary['feature_count']} features consistent with normal dose:")
        for method, counts in summary["consistent_features"].items():
            print(f"  {method:<12} t-test {counts['t_test']:>3}  Wilcoxon {counts['wilcoxon']:>3}  "
                  f"CCC>={args.ccc_threshold} {counts['ccc']:>3}")
        for entry in summary["quality_summary"]:
            print(f"  {entry['image']:<12} PSNR {entry['psnr_db_mean']:.2f} +/- {entry['psnr_db_std']:.2f} dB  "
                  f"SSIM {entry['ssim_mean']:.4f}  seed PSNR {entry['seed_psnr_db_mean']:.2f} dB  "
                  f"seed SSIM {entry['seed_ssim_mean']:.4f}  noise {entry['noise_std_hu_mean']:.1f} HU")
        print(f"  {summary['note']}")
    return 0
