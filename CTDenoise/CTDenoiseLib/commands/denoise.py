"""ctdenoise denoise INPUT... OUTPUT: denoise one CT volume, or a batch of them into a folder.

One INPUT (a file or a DICOM series folder) and an OUTPUT file: as before. Several INPUTs, or a folder of
volumes, and an OUTPUT folder: batch mode, one JSON line per file on stdout
(``{"event":"file","input":..,"output":..,"status":"ok"|"failed","error":..}``); a failing file does not stop
the rest, and the exit status is 1 if any failed. Under ``torchrun`` each rank takes ``inputs[rank::world]``.
``--preview`` adds a PNG of one slice (input | output | difference): the named file, or in batch mode a folder
holding ``<output name>.png`` for each output.
"""

from __future__ import annotations

import argparse
import sys

from ..events import emit, event
from ..vocabulary import DEFAULT_MODEL, Backend, Device, Precision, ProgressFormat, choices
from . import denoise_dicom
from .option_types import ADAPT_STEPS, HALO, MAX_TILE_MVOX, NON_NEGATIVE, PROGRESS, STRENGTH, bounded


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "denoise", help="denoise a CT volume, or a batch of them",
        description="Denoise a CT volume (NRRD, NIfTI, MHA or a DICOM series folder), or several into a folder. "
                    "Batch work can be spread over ranks: torchrun --nproc-per-node N -m CTDenoiseLib denoise ...")
    parser.add_argument("input", nargs="+",
                        help="CT volume file(s), DICOM series folder(s) or folder(s) of volumes, in HU")
    parser.add_argument("output", help="output file (.nrrd, .nii, .nii.gz, .mha; int16 HU, input geometry), "
                                       "or an output folder in batch mode")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"registered model name (default: {DEFAULT_MODEL})")
    parser.add_argument("--precision", choices=choices(Precision), default=Precision.AUTO.value,
                        help="auto (default): FP16 on a CUDA GPU, INT8 on a CPU with VNNI/AMX, else FP32; "
                             "prints which and why")
    parser.add_argument("--device", choices=choices(Device), default=Device.AUTO.value)
    parser.add_argument("--backend", choices=choices(Backend), default=Backend.AUTO.value,
                        help="auto: OpenVINO for INT8 and for FP32 on the CPU when installed, else PyTorch; "
                             "torch: PyTorch eager (the FP32 reference)")
    parser.add_argument("--format", default=".nrrd", choices=(".nrrd", ".nii", ".nii.gz", ".mha"),
                        help="output file type in batch mode (default .nrrd)")
    parser.add_argument("--progress", **PROGRESS)
    parser.add_argument("--max-tile-mvox", type=bounded(float, MAX_TILE_MVOX), default=None,
                        help="largest tile, halo included, in millions of voxels (bounds memory; default 8 for INT8, "
                             "4 for FP32 and FP16)")
    parser.add_argument("--halo", type=bounded(int, HALO, "the networks see 11 voxels"), default=None,
                        help="tile overlap in voxels, 0-64 (default: the model card's)")
    parser.add_argument("--series", default=None, metavar="UID",
                        help="for a DICOM folder holding several series: the SeriesInstanceUID (or the number "
                             "in the list the error prints) to denoise")
    parser.add_argument("--strength", type=bounded(float, STRENGTH), default=1.0,
                        help="how much of the network's correction to apply, 0..1 (1: all of it, the default; 0.5 "
                             "keeps half the noise, like a vendor's 'medium'); recorded in the output's header")
    parser.add_argument("--self-ensemble", action="store_true",
                        help="average the outputs for the 8 flips of each tile: about +0.2 dB PSNR for 8x the time")
    parser.add_argument("--adapt", action="store_true",
                        help="first fine-tune a copy of the network on this scan, without a reference "
                             "(recorrupted-to-recorrupted training with noise of the scan's own texture and level; "
                             "a few minutes on 2 CPU cores); runs FP32. Measured in docs/evaluation.md")
    parser.add_argument("--adapt-steps", type=bounded(int, ADAPT_STEPS), default=None, metavar="N",
                        help="steps of --adapt (default 300)")
    parser.add_argument("--preview", default=None, metavar="PNG",
                        help="also write a PNG of one axial slice: input | output | difference in a soft-tissue "
                             "and a lung window, captioned with the model, precision, strength, noise and time; in "
                             "batch mode a folder (created if missing) that gets <output name>.png per output")
    parser.add_argument("--preview-slice", type=bounded(int, NON_NEGATIVE), default=None, metavar="N",
                        help="the axial slice the preview shows, 0-based (default: the middle one)")
    denoise_dicom.add_arguments(parser)
    parser.set_defaults(handler=run)


def adaptation(args: argparse.Namespace):
    """``--adapt`` and ``--adapt-steps`` as the engine takes them (None: no adaptation)."""
    from ..errors import CTDenoiseError
    from ..inference.adaptation import Adaptation

    if args.adapt_steps is not None and not args.adapt:
        raise CTDenoiseError("--adapt-steps sets the steps of --adapt, but no --adapt was asked for.",
                             "Add --adapt (or drop --adapt-steps).")
    if not args.adapt:
        return None
    return Adaptation() if args.adapt_steps is None else Adaptation(steps=args.adapt_steps)


def run(args: argparse.Namespace) -> int:
    from ..errors import CTDenoiseError
    from ..figures.png import require_matplotlib
    from ..io.batch import is_batch
    from ..progress import make_progress

    progress = make_progress(args.progress)
    dicom = denoise_dicom.prepare(args)  # None unless --output-format dicom; checks INPUT, OUTPUT and --send first
    if args.preview_slice is not None and args.preview is None:
        raise CTDenoiseError("--preview-slice chooses the slice of a preview, but no --preview was asked for.",
                             "Add --preview preview.png (or drop --preview-slice).")
    if args.preview is not None:
        require_matplotlib("--preview")
    if is_batch(args.input):
        return run_batch(args, progress)
    import time

    from ..figures.png import check_png_path
    from ..figures.preview import PreviewRequest
    from ..inference.pipeline import denoise_with, prepare_engine
    from ..io.volumes import check_input, check_output_path
    from ..runtime.backends import resolve_choice

    started = time.perf_counter()
    if dicom is None:
        check_output_path(args.output, inputs=(args.input[0],))  # fail before loading anything
    preview = None if args.preview is None else PreviewRequest(check_png_path(args.preview), args.preview_slice)
    # an impossible precision/device pair is the first thing to say (and is not resolved again)
    choice = resolve_choice(args.precision, args.device) if args.precision != Precision.AUTO else None
    check_input(args.input[0], args.series)
    engine = prepare_engine(args.model, args.precision, args.device, args.backend, progress, args.self_ensemble,
                            args.strength, choice, adaptation(args))
    warn_halo_below_measured(engine, args.halo, progress)
    result = denoise_with(engine, args.input[0], args.output, progress, tile_voxels(args.max_tile_mvox), args.halo,
                          series=args.series, writer=dicom.writer(engine, progress) if dicom else None,
                          preview=preview)
    if args.progress == ProgressFormat.JSON:
        emit(result.event())  # timings for programs such as `ctdenoise benchmark`
    progress.finished(result.output, time.perf_counter() - started)
    if dicom:
        dicom.send(progress, emit if args.progress == ProgressFormat.JSON else None)
    return 0


def run_batch(args: argparse.Namespace, progress) -> int:
    from pathlib import Path

    from ..errors import CTDenoiseError
    from ..inference.pipeline import denoise_many, prepare_engine
    from ..io.batch import Rank, check_outputs, expand_inputs, output_names
    from ..io.volumes import check_parent_writable

    rank = Rank.from_environment()  # a stray RANK/WORLD_SIZE is refused before anything is written
    output_dir = Path(args.output)
    if output_dir.exists() and not output_dir.is_dir():
        raise CTDenoiseError(f"With several inputs OUTPUT must be a folder; '{output_dir}' is a file.",
                             "Give a folder (it is created if missing).")
    check_parent_writable(output_dir)
    preview_dir = None if args.preview is None else Path(args.preview)
    if preview_dir is not None:
        if preview_dir.suffix.lower() == ".png" or (preview_dir.exists() and not preview_dir.is_dir()):
            raise CTDenoiseError(f"With several inputs --preview names a folder (one <output name>.png per output); "
                                 f"'{preview_dir}' is a file name.", "Give a folder, e.g. --preview previews/.")
        check_parent_writable(preview_dir)
    inputs = expand_inputs(args.input)
    outputs = output_names(inputs, output_dir, args.format)
    check_outputs(inputs, outputs)  # every output planned before any is written
    output_dir.mkdir(exist_ok=True)
    if preview_dir is not None:
        preview_dir.mkdir(exist_ok=True)
    pairs = rank.share(list(zip(inputs, outputs)))
    failed = 0
    if pairs:
        engine = prepare_engine(args.model, args.precision, args.device, args.backend, progress, args.self_ensemble,
                                args.strength, adaptation=adaptation(args))
        warn_halo_below_measured(engine, args.halo, progress)
        extra = {"rank": rank.rank} if rank.world_size > 1 else {}
        results = denoise_many(engine, pairs, progress, tile_voxels(args.max_tile_mvox), args.halo,
                               on_result=lambda result: emit({**result.event(), **extra}), preview_dir=preview_dir,
                               preview_slice_index=args.preview_slice)
        failed = sum(result.status != "ok" for result in results)
    ok = len(pairs) - failed
    if rank.world_size > 1:
        ok, failed = _sum_over_ranks(ok, failed)
    if rank.rank == 0:
        emit(event("batch", files=ok + failed, ok=ok, failed=failed, ranks=rank.world_size))
    if failed:
        print(f"ctdenoise: error: {failed} of {ok + failed} input(s) failed; see the \"file\" lines.", file=sys.stderr)
        return 1
    return 0


def warn_halo_below_measured(engine, halo: int | None, progress) -> None:
    """Say what a ``--halo`` below the model's own costs: the tile seams its card measured."""
    from ..inference.halo_study import halo_warning

    warning = halo_warning(engine.loaded.name, engine.loaded.card, engine.loaded.halo, halo)
    if warning:
        progress.info(warning)


def _sum_over_ranks(ok: int, failed: int) -> tuple[int, int]:
    """Totals over all torchrun ranks (gloo all-reduce of two integers); also the final barrier."""
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    try:
        counts = torch.tensor([ok, failed], dtype=torch.int64)
        dist.all_reduce(counts)
        return int(counts[0]), int(counts[1])
    finally:
        dist.destroy_process_group()


def tile_voxels(max_tile_mvox: float | None) -> int | None:
    """``--max-tile-mvox`` in voxels; None leaves the precision's default to the engine."""
    return None if max_tile_mvox is None else int(max_tile_mvox * 1e6)
