"""ctdenoise demo: the whole job on a synthetic chest generated in code and imaged noise-free by the simulator's
scanner (projection and filtered back-projection), or on a given normal-dose CT: simulate 10 % dose, denoise with
each shipped model, write the volumes and a preview PNG of each (input | output | difference), print PSNR/SSIM and
times."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..vocabulary import SHIPPED_MODELS, Precision, choices
from .option_types import DOSE, SEED, bounded


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser("demo", help="simulate low dose, denoise, and report quality (no data needed)")
    parser.add_argument("input", nargs="?", help="normal-dose CT (default: a synthetic chest phantom made in code)")
    parser.add_argument("--output-dir", type=Path, default=Path("demo-output"))
    parser.add_argument("--dose", type=bounded(float, DOSE), default=0.1, help="dose fraction (default 0.1)")
    parser.add_argument("--models", nargs="+", default=list(SHIPPED_MODELS))
    parser.add_argument("--seed", type=bounded(int, SEED), default=0)
    parser.add_argument("--precision", choices=choices(Precision), default=Precision.AUTO.value,
                        help="as for denoise; auto (default) is the fastest path this machine has, and says which")
    parser.add_argument("--self-ensemble", action="store_true",
                        help="also report each model averaged over the 8 flips of each tile (8x the time)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import time
    from dataclasses import replace

    from ..errors import CTDenoiseError
    from ..evaluation.metrics import QUALITY_WINDOW
    from ..evaluation.quality import psnr_ssim, valid_voxels
    from ..figures.png import require_matplotlib
    from ..figures.preview import PreviewRequest, preview_path_for, write_preview
    from ..hu import to_int16_hu
    from ..inference.pipeline import prepare_engine
    from ..inference.self_ensemble import self_ensemble
    from ..io.plausibility import check_ct_volume
    from ..io.volumes import make_output_folder, read_volume, write_volume
    from ..noise.estimate import estimate_noise_std
    from ..simulation.low_dose import DoseSimulation, scanner_image, simulate_volume
    from ..simulation.phantom import chest_phantom

    try:
        require_matplotlib("The preview")
        previews = True
    except CTDenoiseError as error:  # the demo's numbers and volumes do not need it
        print(f"no preview PNGs: {error}")
        previews = False
    make_output_folder(args.output_dir)
    if args.input:
        normal = read_volume(args.input)
        check_ct_volume(normal)
        source = args.input
    else:
        # As a scanner images it (projected, reconstructed): a raw phantom's step edges are in no CT image.
        normal = scanner_image(chest_phantom(seed=args.seed))
        source = "synthetic chest phantom (noise-free FBP reconstruction)"
    started = time.perf_counter()
    low = simulate_volume(normal, DoseSimulation(dose=args.dose, seed=args.seed))
    low = low.with_array(to_int16_hu(low.array))
    print(f"{source}: {normal.array.shape[::-1]} voxels; simulated {args.dose:.0%} dose in "
          f"{time.perf_counter() - started:.1f} s")
    write_volume(normal, args.output_dir / "normal_dose.nrrd")
    write_volume(low, args.output_dir / "low_dose.nrrd")
    valid = valid_voxels(normal.array)
    print(f"quality vs normal dose, window {QUALITY_WINDOW[0]:.0f}..{QUALITY_WINDOW[1]:.0f} HU")
    print(f"  {'low dose':<22} {_scores(psnr_ssim(normal.array, low.array, valid))}")
    noise = estimate_noise_std(low.array)
    notes_shown: set[str] = set()
    for name in args.models:
        engine = prepare_engine(name, args.precision)
        choice = engine.choice
        if choice.note and choice.note not in notes_shown:
            notes_shown.add(choice.note)
            print(f"  {choice.note}")
        variants = [(name, f"{choice.device} {choice.precision}", engine)]
        if args.self_ensemble:
            variants.append((f"{name}_ensemble", "8 flips",
                             replace(engine, run=self_ensemble(engine.run), self_ensemble=True)))
        for stem, how, variant in variants:
            started = time.perf_counter()
            denoised = to_int16_hu(variant.denoise(low.array))
            seconds = time.perf_counter() - started
            path = write_volume(low.with_array(denoised), args.output_dir / f"denoised_{stem}.nrrd")
            print(f"  {name + ' (' + how + ')':<22} {_scores(psnr_ssim(normal.array, denoised, valid))}  "
                  f"{seconds:.2f} s  -> {path}")
            if previews:
                caption = f"simulated {args.dose:.0%} dose -> {path.name}: {variant.caption(noise, seconds)}"
                png = write_preview(PreviewRequest(preview_path_for(path, args.output_dir)), low, denoised, caption)
                print(f"  {'':<22} preview -> {png}")
    return 0


def _scores(scores: dict[str, float]) -> str:
    return f"PSNR {scores['psnr_db']:6.2f} dB  SSIM {scores['ssim']:.4f}"
