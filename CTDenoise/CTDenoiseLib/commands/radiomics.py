"""ctdenoise radiomics --mask M --image A --image B [--reference R] --output-dir D: nodule features per image
and their differences against the reference (or the first image)."""

from __future__ import annotations

import argparse

from .option_types import PROGRESS


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "radiomics", help="compare nodule radiomics features between images (e.g. low dose vs denoised)",
        description="pyradiomics first-order, GLCM, GLRLM and GLSZM features of one nodule in each image, with "
                    "absolute and relative differences against --reference (or the first --image). Writes "
                    "features.csv, features.json and relative_change.png into --output-dir.")
    parser.add_argument("--mask", required=True, help="label map of the nodule (NRRD, NIfTI, MHA); another grid "
                        "than an image's is resampled with nearest neighbour (reported)")
    parser.add_argument("--label", type=int, default=None,
                        help="label value of the nodule in the mask (default: the mask's only label)")
    parser.add_argument("--image", action="append", required=True, help="CT volume in HU; repeat for each image")
    parser.add_argument("--reference", default=None, help="normal-dose CT the others are compared against")
    parser.add_argument("--output-dir", required=True, help="folder for features.csv, features.json and the figure")
    parser.add_argument("--params", default=None,
                        help="pyradiomics parameter file (default: the shipped radiomics/params.yaml)")
    parser.add_argument("--no-figure", action="store_true", help="skip relative_change.png")
    parser.add_argument("--progress", **PROGRESS)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..progress import make_progress
    from ..radiomics.report import compare_images

    compare_images(args.mask, args.image, args.output_dir, reference=args.reference, label=args.label,
                   params=args.params, progress=make_progress(args.progress), figure=not args.no_figure)
    return 0
