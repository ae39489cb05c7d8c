"""ctdenoise models: list registered models with their hashes and card summaries."""

from __future__ import annotations

import argparse
import json

from ..vocabulary import DEFAULT_MODEL, Precision, choices


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser("models", help="list the registered models")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


PRECISIONS = choices(Precision, auto=False)  # listed by `models --json`, less those unavailable here


def unavailable_here(entry) -> dict[str, str]:
    """The precisions ``entry`` cannot run on this machine, each with why (``precisions`` lists the others)."""
    from ..runtime.backends import cuda_available
    from ..runtime.precision_auto import int8_unavailable_reason

    missing = {}
    if not cuda_available():
        missing[Precision.FP16.value] = "needs a CUDA GPU"
    int8 = int8_unavailable_reason(entry.name)
    if int8:
        missing[Precision.INT8.value] = int8
    return missing


def summarise(entry) -> dict:
    unavailable = unavailable_here(entry)
    card = entry.read_card()
    metrics = card.get("metrics", {})
    config = card.get("config", {})
    summary = (f"{config.get('architecture')} {config.get('features')} features x {config.get('blocks')} blocks, "
               f"{card.get('parameters', 0) / 1e3:.0f}k parameters, "
               f"{card.get('macs_per_voxel', 0) / 1e3:.0f}k MAC/voxel; "
               f"trained on {card.get('training', {}).get('summary', 'unknown data')}")
    if "validation_psnr_gain_db" in metrics:
        summary += (f"; validation PSNR {metrics['validation_psnr_gain_db']:+.2f} dB at "
                    f"{card['training'].get('dose')} dose")
    if card.get("note"):
        summary += f". {card['note']}"
    return {"name": entry.name, "architecture": config.get("architecture"),
            "precisions": [precision for precision in PRECISIONS if precision not in unavailable],
            "unavailable": unavailable,
            "sha256": entry.weights.sha256, "weights": str(entry.weights.path), "registry": str(entry.registry),
            "summary": summary}


def run(args: argparse.Namespace) -> int:
    from ..models.registry import list_models

    rows = [summarise(entry) for entry in list_models()]
    if args.json:
        print(json.dumps({"default": DEFAULT_MODEL, "models": rows}, indent=2))
        return 0
    if not rows:
        print("No models registered.")
    for row in rows:
        not_here = "".join(f"; not {name}: {why}" for name, why in row["unavailable"].items())
        default = " (default)" if row["name"] == DEFAULT_MODEL else ""
        print(f"{row['name']}{default}\n  sha256 {row['sha256']}\n"
              f"  precisions here: {', '.join(row['precisions'])}{not_here}\n  {row['summary']}\n  {row['weights']}")
    return 0
