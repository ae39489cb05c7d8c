"""Lesion-present and lesion-absent patches at normal dose for the lesion classifier, and its saved form.

- MITA phantom (``lcd_ct_phantom/fbp/dose_100``): a patch centred on each insert of each signal-present
  realisation, and the same place in each signal-absent one.
- LIDC (``nodule_consensus50.nrrd``): a patch centred on the consensus nodule in every slice where it covers
  at least ``MIN_NODULE_PIXELS`` pixels, and patches of body tissue (mean above -900 HU) at least a patch away
  from the nodule in the same slices.

LIDC-IDRI-0003 is the project's unseen test patient: patches from it may only be scored, never trained on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

PATCH = 32
MIN_NODULE_PIXELS = 12
TEST_PATIENT = "LIDC-IDRI-0003"
CLASSIFIER_WEIGHTS = "lesion_classifier.safetensors"
CLASSIFIER_CARD = "lesion_classifier.json"


def phantom_patches(root: Path, realisations: slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
    """(patches, labels) from the phantom's 100 % dose scans, realisations chosen by ``realisations``."""
    from CTDenoiseLib.simulation.lcd_phantom import find_inserts, ground_truth, real_realisations, roi

    present, absent = real_realisations(Path(root), 1.0)
    inserts = find_inserts(ground_truth(Path(root)))
    patches, labels = [], []
    for stack, label in ((present[realisations], 1), (absent[realisations], 0)):
        for insert in inserts:
            patches.append(roi(stack, insert.centre, PATCH + 1)[:, :PATCH, :PATCH])
            labels += [label] * len(stack)
    return np.concatenate(patches), np.array(labels)


def lidc_patches(case: Path, negatives_per_slice: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(patches, labels) from one LIDC case folder (``image.nrrd`` and ``nodule_consensus50.nrrd``)."""
    from scipy import ndimage

    from CTDenoiseLib.io.volumes import read_volume

    image = read_volume(Path(case) / "image.nrrd").array.astype(np.float32)
    mask = read_volume(Path(case) / "nodule_consensus50.nrrd").array > 0
    rng = np.random.default_rng(seed)
    half = PATCH // 2
    patches, labels = [], []
    for z in range(image.shape[0]):
        if mask[z].sum() < MIN_NODULE_PIXELS:
            continue
        row, column = (int(round(c)) for c in ndimage.center_of_mass(mask[z]))
        row = int(np.clip(row, half, image.shape[1] - half))
        column = int(np.clip(column, half, image.shape[2] - half))
        patches.append(image[z, row - half: row + half, column - half: column + half])
        labels.append(1)
        far = ~ndimage.binary_dilation(mask[z], iterations=PATCH)
        found = 0
        for _ in range(200):
            r, c = rng.integers(half, image.shape[1] - half), rng.integers(half, image.shape[2] - half)
            candidate = image[z, r - half: r + half, c - half: c + half]
            if far[r, c] and candidate.mean() > -900 and candidate.min() > -1500:
                patches.append(candidate)
                labels.append(0)
                found += 1
                if found == negatives_per_slice:
                    break
    return np.stack(patches), np.array(labels)


def save_classifier(model: torch.nn.Module, folder: Path, card: dict) -> Path:
    """``lesion_classifier.safetensors`` and ``lesion_classifier.json`` (the card, with the weights' SHA-256 added
    as ``sha256``) in ``folder``, each written atomically."""
    from safetensors.torch import save_file

    from CTDenoiseLib.io.atomic import atomic_write
    from CTDenoiseLib.models.registry import sha256_of

    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / CLASSIFIER_WEIGHTS
    with atomic_write(weights, folder / f".{CLASSIFIER_WEIGHTS}.partial.safetensors") as partial:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(partial))
    with atomic_write(folder / CLASSIFIER_CARD) as partial:
        partial.write_text(json.dumps({**card, "sha256": sha256_of(weights)}, indent=2), encoding="utf-8")
    return weights


def load_classifier(weights: Path, features: int = 16):
    """The classifier saved by ``save_classifier`` (safetensors, never unpickled)."""
    from safetensors.torch import load_file

    from .lesion_classifier import LesionCNN

    model = LesionCNN(features)
    model.load_state_dict(load_file(str(weights)))
    return model.eval()
