"""ctdenoise lesion-classifier: train the lesion classifier of the activation-map recipe on the shared data and
report its accuracy on held-out patches (``lesion_classifier_fit.py``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "lesion-classifier", help="train the lesion classifier for --recipe activation-map",
        description="Train a small lesion-present/absent CNN on normal-dose patches (LIDC-IDRI-0001/0002 nodules "
                    "and the MITA phantom's inserts, realisations 0-6), score it on held-out patches "
                    "(LIDC-IDRI-0003, phantom realisations 7-9) and write lesion_classifier.safetensors and its "
                    "card lesion_classifier.json to --output-dir.")
    parser.add_argument("data", type=Path, help="the shared data folder (with lidc/ and lcd_ct_phantom/fbp)")
    parser.add_argument("--output-dir", type=Path, required=True, help="where the classifier and its card go")
    parser.add_argument("--epochs", type=int, default=300, help="passes over the training patches (default 300)")
    parser.add_argument("--features", type=int, default=16, help="width of the classifier (default 16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from CTDenoiseLib.errors import CTDenoiseError
    from CTDenoiseLib.events import emit, event
    from CTDenoiseLib.models.registry import sha256_of

    from ..recipes.lesion_classifier_fit import LIDC_FOLDER, PHANTOM_FOLDER, classifier_card, fit_lesion_classifier
    from ..recipes.lesion_patches import save_classifier

    missing = [str(args.data / f) for f in (LIDC_FOLDER, PHANTOM_FOLDER) if not (args.data / f).is_dir()]
    if missing:
        raise CTDenoiseError(f"{args.data} is not the shared data folder: {', '.join(missing)} missing. Give the "
                             "folder that holds lidc/ and lcd_ct_phantom/.")
    if args.epochs < 1 or args.features < 1:
        raise CTDenoiseError("--epochs and --features must be at least 1.")
    model, scores, data = fit_lesion_classifier(args.data, args.epochs, args.seed, args.features)
    weights = save_classifier(model, args.output_dir, classifier_card(scores, data, args.epochs, args.seed,
                                                                      args.features))
    print(f"{'held out':32s} {'patches':>7s} {'present':>7s} {'accuracy (95 % CI)':>22s} {'balanced':>8s} "
          f"{'AUC':>6s} {'majority':>8s}")
    for s in scores:
        interval = f"{s.accuracy:.3f} ({s.accuracy_interval[0]:.3f}-{s.accuracy_interval[1]:.3f})"
        print(f"{s.source:32s} {s.patches:7d} {s.present:7d} {interval:>22s} {s.balanced_accuracy:8.3f} "
              f"{s.auc:6.3f} {s.majority_rate:8.3f}")
    emit(event("lesion-classifier", weights=str(weights), sha256=sha256_of(weights),
               held_out=[asdict(s) for s in scores]))
    return 0
