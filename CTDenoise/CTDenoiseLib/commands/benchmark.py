"""ctdenoise benchmark: the seed's Table 1 (SRResNet/STResNet x FP32/FP16/INT8) measured on this machine."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..vocabulary import SHIPPED_MODELS
from .option_types import SEED, bounded

DEFAULT_INPUT = Path("../shared/data/lidc/LIDC-IDRI-0003/image.nrrd")  # neither trained nor validated on


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "benchmark", help="measure quality and speed of every model x precision on one real volume",
        description="Simulate a low-dose scan from one normal-dose CT, denoise it with each model x precision "
                    "(each a separate `ctdenoise denoise` process) and print the seed's Table 1 for this machine.")
    parser.add_argument("--input", type=Path, default=None,
                        help=f"normal-dose CT volume (default: {DEFAULT_INPUT}, relative to the working folder)")
    parser.add_argument("--models", nargs="+", default=list(SHIPPED_MODELS))
    parser.add_argument("--dose", type=float, default=0.1)
    parser.add_argument("--seed", type=bounded(int, SEED), default=0)
    parser.add_argument("--repeats", type=int, default=3, help="runs per row; the fastest is reported (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per run (default: all cores)")
    parser.add_argument("--full-size", action="store_true",
                        help="also run the CPU rows once on a 512x512x300 volume made of the input's slices "
                             "(measures peak memory and time at full size)")
    parser.add_argument("--json", type=Path, default=None, help="also write the measurements as JSON")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="keep the volumes here (default: a temporary folder)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    import tempfile

    from ..benchmark.cpu_peak import cpu_info
    from ..benchmark.run import full_size_rows, run_benchmark
    from ..benchmark.table import render, render_full_size
    from ..errors import CTDenoiseError

    source = args.input or DEFAULT_INPUT
    if not source.exists():
        raise CTDenoiseError(f"Benchmark input '{source}' not found.", "Give a normal-dose CT volume with --input.")
    if args.repeats < 1:
        raise CTDenoiseError("--repeats must be at least 1.")
    cpu = cpu_info()
    threads = args.threads or cpu.cores
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="ctdenoise-benchmark-") as temporary:
        work = args.work_dir or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        report, low_dose = run_benchmark(source, args.models, args.dose, args.seed, args.repeats, threads, work, cpu,
                                         log)
        print(render(report, cpu))
        full = full_size_rows(report, low_dose, work, threads, log) if args.full_size else None
        if full:
            print()
            print(render_full_size(full))
    if args.json:
        data = report.to_json()
        if full:
            data["full_size"] = full
        args.json.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return 0
