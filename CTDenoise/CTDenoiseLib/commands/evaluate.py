"""ctdenoise evaluate --reference ND --image A [--image B ...]: image quality against a normal-dose reference,
or over a list of cases (--cases) as mean +/- std."""

from __future__ import annotations

import argparse


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "evaluate", help="PSNR, SSIM, LPIPS and noise of images against a normal-dose reference",
        description="Image quality against a normal-dose reference. PSNR/SSIM are reported in two stated conventions "
                    "(3D, -1024..1900 HU; and the STResNet seed's -1000..500 HU -> 0..255, 2D averaged over three "
                    "orientations), LPIPS where the lpips package works, and the noise std in a homogeneous region.")
    parser.add_argument("--reference", help="normal-dose CT (the ground truth)")
    parser.add_argument("--image", action="append", default=[], help="CT to evaluate; repeat for each image")
    parser.add_argument("--mask", help="label map restricting the 3D PSNR/SSIM (e.g. the body); nearest-neighbour "
                        "resampled when on another grid")
    parser.add_argument("--label", type=int, default=None, help="label value in --mask (default: its only label)")
    parser.add_argument("--cases", help="CSV with columns case, reference, [mask,] and one column per image set; "
                        "reports each volume and mean +/- std per image set")
    parser.add_argument("--noise-roi", help="box z0:z1,y0:y1,x0:x1 (voxel indices) for the noise std "
                        "(default: the flattest ~10 mm soft-tissue box of the reference)")
    parser.add_argument("--no-lpips", action="store_true", help="skip LPIPS")
    parser.add_argument("--output-dir", help="write quality.csv (per volume), quality_summary.csv and quality.json")
    parser.set_defaults(handler=run)


def _cases(args: argparse.Namespace) -> list[dict[str, str]]:
    from ..errors import CTDenoiseError
    from ..evaluation.quality import read_cases
    from ..io.file_labels import file_labels

    if args.cases:
        if args.reference or args.image:
            raise CTDenoiseError("--cases cannot be combined with --reference/--image.", "Use one or the other.")
        return read_cases(args.cases)
    if not args.reference or not args.image:
        raise CTDenoiseError("Nothing to evaluate.", "Give --reference and at least one --image, or --cases.")
    return [{"case": "", "reference": args.reference, **({"mask": args.mask} if args.mask else {}),
             **dict(zip(file_labels(args.image), args.image))}]


def run(args: argparse.Namespace) -> int:
    import json
    import math

    from ..evaluation.quality import (
        CONVENTIONS,
        evaluate_case,
        format_table,
        parse_roi,
        roi_text,
        summarise,
        write_rows,
    )
    from ..io.grid_check import check_same_grid
    from ..io.label_masks import read_mask
    from ..io.plausibility import check_ct_volume
    from ..io.volumes import check_folder_option, make_output_folder, read_volume

    if args.output_dir:
        check_folder_option(args.output_dir)  # before the work, not after it
    rows, notes = [], []
    for case in _cases(args):
        reference = read_volume(case["reference"])
        check_ct_volume(reference, f"reference '{case['reference']}'")  # the same checks as denoise
        region = None
        if case.get("mask"):
            grid_mask = read_mask(case["mask"], reference, args.label, refuse_outside=False)
            region = grid_mask.array
            if grid_mask.note:
                notes.append(grid_mask.note)
        images = {}
        for name, path in case.items():
            if name not in ("case", "reference", "mask") and path:
                image = read_volume(path)
                check_ct_volume(image, f"image '{path}'")
                check_same_grid(reference, image, f"Image '{path}'")
                images[name] = image.array
        roi = parse_roi(args.noise_roi, reference.array.shape) if args.noise_roi else None
        result = evaluate_case(reference, images, case["case"], region, roi, with_lpips=not args.no_lpips)
        for row in result.rows:
            row["noise_roi_zyx"] = roi_text(result.noise_roi)
        rows += result.rows
        if result.lpips_note and f"LPIPS unavailable: {result.lpips_note}" not in notes:
            notes.append(f"LPIPS unavailable: {result.lpips_note}")
    summary = summarise(rows)
    print("Conventions:")
    for metric, text in CONVENTIONS.items():
        print(f"  {metric}: {text}")
    for note in notes:
        print(f"Note: {note}")
    if len(rows) > len(summary):
        print("\nPer volume:")
    for row in rows if len(rows) > len(summary) else []:
        print("  " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
    print("\nMean +/- std over cases:" if len(rows) > len(summary) else "")
    print(format_table(summary))
    if args.output_dir:
        output = make_output_folder(args.output_dir)
        write_rows(output / "quality.csv", rows)
        write_rows(output / "quality_summary.csv", summary)
        clean = lambda v: v if not isinstance(v, float) or math.isfinite(v) else None  # noqa: E731
        (output / "quality.json").write_text(json.dumps({
            "conventions": CONVENTIONS, "notes": notes,
            "per_volume": [{k: clean(v) for k, v in r.items()} for r in rows],
            "summary": [{k: clean(v) for k, v in s.items()} for s in summary]}, indent=1) + "\n", encoding="utf-8")
        print(f"\nWrote {output / 'quality.csv'}, quality_summary.csv and quality.json")
    return 0
