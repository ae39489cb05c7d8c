"""Training the lesion classifier of the activation-map recipe on the shared data, and scoring it on held-out
patches.

Split (fixed, by patient and by phantom realisation, so no held-out patch shares a scan with a training one):

- train: LIDC-IDRI-0001 and -0002, and the MITA phantom's 100 % dose realisations 0-6;
- held out: LIDC-IDRI-0003 (the project's unseen test patient, only ever scored) and phantom realisations 7-9.

Each held-out source gets accuracy, balanced accuracy, the area under the ROC curve and the rate a classifier
that always answers the majority class would reach, so "better than chance" can be read off directly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .lesion_classifier import LesionCNN, to_input, train_classifier
from .lesion_patches import PATCH, TEST_PATIENT, lidc_patches, phantom_patches

TRAIN_PATIENTS = ("LIDC-IDRI-0001", "LIDC-IDRI-0002")
TRAIN_REALISATIONS = slice(0, 7)
HELD_OUT_REALISATIONS = slice(7, None)
PHANTOM_FOLDER = "lcd_ct_phantom/fbp"
LIDC_FOLDER = "lidc"


@dataclass(frozen=True)
class HeldOutScore:
    """How the classifier does on one held-out source.

    Attributes:
        source: which patches.
        patches: how many.
        present: how many with a lesion.
        accuracy: fraction right (logit > 0 means present).
        accuracy_interval: Wilson 95 % interval of ``accuracy``.
        balanced_accuracy: mean of the accuracies on present and on absent patches (chance: 0.5).
        auc: area under the ROC curve of the logits (chance: 0.5).
        majority_rate: accuracy of always answering the more frequent class.
    """

    source: str
    patches: int
    present: int
    accuracy: float
    accuracy_interval: tuple[float, float]
    balanced_accuracy: float
    auc: float
    majority_rate: float


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (95 % by default)."""
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return (max(0.0, centre - half), min(1.0, centre + half))


@torch.no_grad()
def score(model: LesionCNN, patches: np.ndarray, labels: np.ndarray, source: str) -> HeldOutScore:
    """Score ``model`` on (N, H, W) HU patches with 0/1 labels.

    Args:
        model: the classifier.
        patches: HU patches.
        labels: 1 lesion present, 0 absent.
        source: a name for the patches.
    """
    from CTDenoiseLib.evaluation.model_observers import auc_mann_whitney

    logits = model(to_input(torch.from_numpy(patches).float()).unsqueeze(1)).numpy()
    labels = np.asarray(labels).astype(bool)
    right = (logits > 0) == labels
    present_rate = float(right[labels].mean()) if labels.any() else float("nan")
    absent_rate = float(right[~labels].mean()) if (~labels).any() else float("nan")
    return HeldOutScore(source, int(labels.size), int(labels.sum()), round(float(right.mean()), 4),
                        tuple(round(v, 4) for v in wilson_interval(int(right.sum()), int(right.size))),
                        round(0.5 * (present_rate + absent_rate), 4),
                        round(auc_mann_whitney(logits[labels], logits[~labels]), 4),
                        round(float(max(labels.mean(), 1 - labels.mean())), 4))


def fit_lesion_classifier(data_root: Path, epochs: int = 300, seed: int = 0, features: int = 16
                          ) -> tuple[LesionCNN, list[HeldOutScore], dict]:
    """Train on the training split of the shared data and score on the held-out split.

    Args:
        data_root: the shared data folder (with ``lidc/`` and ``lcd_ct_phantom/fbp``).
        epochs: passes over the training patches (fixed: no held-out patch chooses anything).
        seed: initialisation and order.
        features: width of the classifier.

    Returns:
        The classifier, its held-out scores (LIDC-IDRI-0003, phantom realisations 7-9, both together) and the
        card's description of the data.
    """
    root = Path(data_root)
    phantom, lidc = root / PHANTOM_FOLDER, root / LIDC_FOLDER
    train = [phantom_patches(phantom, TRAIN_REALISATIONS)] + [lidc_patches(lidc / p) for p in TRAIN_PATIENTS]
    held_out = {TEST_PATIENT: lidc_patches(lidc / TEST_PATIENT),
                "phantom 100 % realisations 7-9": phantom_patches(phantom, HELD_OUT_REALISATIONS)}
    patches = np.concatenate([x for x, _ in train])
    labels = np.concatenate([y for _, y in train])
    model = train_classifier(torch.from_numpy(patches), torch.from_numpy(labels), epochs=epochs, seed=seed,
                             features=features)
    scores = [score(model, x, y, name) for name, (x, y) in held_out.items()]
    scores.append(score(model, np.concatenate([x for x, _ in held_out.values()]),
                        np.concatenate([y for _, y in held_out.values()]), "all held out"))
    data = {"patch": PATCH, "train": {"lidc": list(TRAIN_PATIENTS), "phantom_dose": 1.0,
                                      "phantom_realisations": "0-6", "patches": int(labels.size),
                                      "present": int(labels.sum())},
            "held_out": {"lidc": [TEST_PATIENT], "phantom_dose": 1.0, "phantom_realisations": "7-9"}}
    return model, scores, data


def classifier_card(scores: list[HeldOutScore], data: dict, epochs: int, seed: int, features: int) -> dict:
    """The classifier's card: what it is, what it saw, how it scored (``save_classifier`` adds the SHA-256)."""
    return {"name": "lesion_classifier", "kind": "lesion classifier for activation-map training",
            "network": f"LesionCNN({features}): four 3x3 convolutions, global average pool, one logit",
            "maps": "CAM (Zhou et al. 2016): the linear weights on the last feature maps, ReLU, normalised to [0, 1]",
            "input": "one axial slice in HU clipped to [-200, 200], divided by 50",
            "training": {"epochs": epochs, "seed": seed, "features": features, "optimizer": "Adam 2e-3, batch 32",
                         "augmentation": "flips and 90-degree rotations", **data},
            "held_out": [asdict(s) for s in scores]}
