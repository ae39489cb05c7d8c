"""ctdenoise compare A B [C ...] --png OUT.png [--reference ND]: one slice of volumes on one grid side by side in a
soft-tissue and a lung window, with PSNR/SSIM against a reference when one is given."""

from __future__ import annotations

import argparse

from .option_types import NON_NEGATIVE, bounded


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "compare", help="a PNG of one slice of several volumes side by side (e.g. low dose | denoised | normal dose)",
        description="Draw one axial slice of volumes on one grid side by side, each row in one display window "
                    "(soft tissue W400/L40, lung W1500/L-600). With --reference, the reference is the last panel and "
                    "every other is headed by its PSNR/SSIM against it (as ctdenoise evaluate computes them); with "
                    "--zoom-mask, a zoomed row per window around the mask (a nodule) is added.")
    parser.add_argument("volumes", nargs="+", help="CT volumes in HU (NRRD, NIfTI, MHA or DICOM series folders)")
    parser.add_argument("--png", required=True, help="the PNG to write (atomically)")
    parser.add_argument("--reference", default=None, help="normal-dose CT on the same grid: shown last, and scores")
    parser.add_argument("--labels", nargs="+", default=None, metavar="NAME",
                        help="one name per volume, in order (default: the file names)")
    parser.add_argument("--reference-label", default="normal dose", help="the reference's name (default: normal dose)")
    parser.add_argument("--slice", type=bounded(int, NON_NEGATIVE), default=None, metavar="N",
                        help="axial slice, 0-based (default: the zoom mask's widest slice, else the middle one)")
    parser.add_argument("--zoom-mask", default=None, metavar="MASK",
                        help="label map (e.g. a nodule segmentation): adds an enlarged view around it")
    parser.add_argument("--label", type=int, default=None, help="label value in --zoom-mask (default: its only label)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import math

    from ..errors import CTDenoiseError
    from ..figures.comparison import compare_figure, labels_for
    from ..figures.png import check_png_path, require_matplotlib
    from ..io.label_masks import read_mask
    from ..io.volumes import read_volume

    require_matplotlib("ctdenoise compare")
    output = check_png_path(args.png, "--png")
    labels = labels_for(args.volumes, args.labels)
    if args.label is not None and args.zoom_mask is None:
        raise CTDenoiseError("--label chooses a label of --zoom-mask, but no --zoom-mask was given.",
                             "Add --zoom-mask MASK (or drop --label).")
    volumes = [read_volume(path) for path in args.volumes]
    reference = read_volume(args.reference) if args.reference else None
    region = None
    if args.zoom_mask:
        mask = read_mask(args.zoom_mask, volumes[0], args.label)
        region = mask.array
        if mask.note:
            print(mask.note)
    scored = compare_figure(volumes, labels, output, reference, args.reference_label, args.slice, region)
    for entry in scored:
        if not math.isnan(entry.psnr_db):
            print(f"{entry.label}: PSNR {entry.psnr_db:.2f} dB  SSIM {entry.ssim:.4f}")
    print(f"wrote {output}")
    return 0
