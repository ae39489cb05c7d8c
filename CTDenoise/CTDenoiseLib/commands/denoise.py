"""ctdenoise denoise INPUT OUTPUT: denoise one CT volume with a registered model."""

from __future__ import annotations

import argparse


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser("denoise", help="denoise a CT volume",
                                    description="Denoise a CT volume (NRRD, NIfTI, MHA or a DICOM series folder).")
    parser.add_argument("input", help="CT volume file or DICOM series folder, in HU")
    parser.add_argument("output", help="output file: .nrrd, .nii, .nii.gz or .mha (int16 HU, input geometry)")
    parser.add_argument("--model", default="stresnet", help="registered model name (default: stresnet)")
    parser.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--progress", choices=("bar", "json", "none"), default="bar")
    parser.add_argument("--max-tile-mvox", type=float, default=4.0,
                        help="largest tile, halo included, in millions of voxels (bounds memory; default 4)")
    parser.add_argument("--halo", type=int, default=None, help="tile overlap in voxels (default: the model card's)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..pipeline import denoise_file
    from ..progress import make_progress

    denoise_file(args.input, args.output, model=args.model, precision=args.precision, device=args.device,
                 progress=make_progress(args.progress), max_tile_voxels=int(args.max_tile_mvox * 1e6), halo=args.halo)
    return 0
