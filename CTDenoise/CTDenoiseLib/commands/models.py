"""ctdenoise models: list registered models with their hashes and card summaries."""

from __future__ import annotations

import argparse
import json


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser("models", help="list the registered models")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def summarise(entry) -> dict:
    card = entry.read_card()
    metrics = card.get("metrics", {})
    config = card.get("config", {})
    summary = (f"{config.get('architecture')} {config.get('features')} features x {config.get('blocks')} blocks, "
               f"{card.get('parameters', 0) / 1e3:.0f}k parameters, {card.get('macs_per_voxel', 0) / 1e3:.0f}k MAC/voxel; "
               f"trained on {card.get('training', {}).get('summary', 'unknown data')}")
    if "validation_psnr_gain_db" in metrics:
        summary += f"; validation PSNR +{metrics['validation_psnr_gain_db']:.2f} dB at {card['training'].get('dose')} dose"
    return {"name": entry.name, "architecture": config.get("architecture"),
            "precisions": ["fp32", "fp16"] + (["int8"] if "int8" in entry.extra else []),
            "sha256": entry.weights.sha256, "weights": str(entry.weights.path), "registry": str(entry.registry),
            "summary": summary}


def run(args: argparse.Namespace) -> int:
    from ..registry import list_models

    rows = [summarise(entry) for entry in list_models()]
    if args.json:
        print(json.dumps({"models": rows}, indent=2))
        return 0
    if not rows:
        print("No models registered.")
    for row in rows:
        print(f"{row['name']}\n  sha256 {row['sha256']}\n  precisions {', '.join(row['precisions'])}\n  {row['summary']}\n"
              f"  {row['weights']}")
    return 0
