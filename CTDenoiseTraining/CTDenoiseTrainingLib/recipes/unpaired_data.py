"""Data of the unpaired recipe: low-dose scans and normal-dose scans of (possibly) other patients, never pairs.

Sources: ``data_dir`` (normal dose) with ``low_dose_dir`` (low dose; names need not match), or ``pairs_csv`` whose
rows name a ``normal`` and/or a ``low`` volume (each becomes a case of its own domain; a row holding both is not
used as a pair), with optional ``patient`` and ``split`` columns. The split is by patient across both domains:
the normal-dose patients are split as in the plain recipe; a low-dose scan of a patient held out there is held
out too, and the remaining low-dose patients are split with the same fraction. Held-out normal-dose volumes are
scored with simulated low dose (the only truth available); held-out low-dose scans give the PNG samples.
Batch ``step`` of rank ``r`` draws its low-dose and its normal-dose patches from separate streams of
(seed, r, step), so resuming is exact.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from CTDenoiseLib.hu import HUNormalization, to_int16_hu
from CTDenoiseLib.io.atomic import write_text_atomic
from CTDenoiseLib.io.plausibility import check_ct_values
from CTDenoiseLib.io.volumes import read_volume

from ..prepare import CACHE_FORMAT, PreparedCase, _fingerprint, _save
from ..sources import SPLIT_FILE, Case, list_volumes, patient_of, split_by_patient, unique_names

NORMAL_DOMAIN_STREAM = 1_000_000  # added to the rank: the normal-dose patches' random stream


@dataclass(frozen=True)
class UnpairedCases:
    """Cases of both domains; a low-dose case keeps its scan in ``low`` and has no ``normal``."""

    normal_train: list[Case]
    normal_validation: list[Case]
    low_train: list[Case]
    low_validation: list[Case]


def _cases_from_csv(path: str, pattern: str) -> tuple[list[Case], list[Case], dict[str, str]]:
    base = Path(path).resolve().parent
    with open(path, newline="", encoding="utf-8-sig") as stream:
        rows = list(csv.DictReader(stream))
    if not rows or not {"normal", "low"} & set(rows[0]):
        raise ValueError(f"{path} needs a header with 'normal' and/or 'low' columns (optional: patient, split)")
    entries: list[tuple[str, str, dict]] = []
    for row in rows:
        for domain in ("normal", "low"):
            value = (row.get(domain) or "").strip()
            if value:
                entries.append((domain, value if os.path.isabs(value) else str(base / value), row))
    names = unique_names([file for _, file, _ in entries])
    normals, lows, split = [], [], {}
    for (domain, file, row), name in zip(entries, names):
        patient = (row.get("patient") or "").strip() or patient_of(name, pattern)
        case = Case(name, patient, file) if domain == "normal" else Case(name, patient, "", file)
        (normals if domain == "normal" else lows).append(case)
        value = (row.get("split") or "").strip().lower()
        if value not in ("", "train", "validation"):
            raise ValueError(f"{path}: split must be 'train' or 'validation', got {value!r}")
        if value:
            split[f"{domain}:{name}"] = value
    return normals, lows, split


def gather_unpaired(config) -> UnpairedCases:
    """Both domains from the configuration, split by patient (see the module docstring).

    Args:
        config: the run's ``TrainConfig``.
    """
    if config.pairs_csv:
        normals, lows, csv_split = _cases_from_csv(config.pairs_csv, config.patient_pattern)
    elif config.data_dir and config.low_dose_dir:
        normals = [Case(name, patient_of(name, config.patient_pattern), str(path))
                   for name, path in list_volumes(config.data_dir).items()]
        lows = [Case(name, patient_of(name, config.patient_pattern), "", str(path))
                for name, path in list_volumes(config.low_dose_dir).items()]
        csv_split = {}
    else:
        raise ValueError("the unpaired recipe needs --data-dir (normal-dose scans) and --low-dose-dir (low-dose "
                         "scans, names need not match), or a --pairs-csv with 'normal' and 'low' columns")
    if not normals or not lows:
        raise ValueError("the unpaired recipe needs at least one normal-dose and one low-dose volume")
    if csv_split:
        side = lambda domain, case: csv_split.get(f"{domain}:{case.name}", "train")  # noqa: E731
        normal_train = [c for c in normals if side("normal", c) == "train"]
        normal_validation = [c for c in normals if side("normal", c) == "validation"]
        low_train = [c for c in lows if side("low", c) == "train"]
        low_validation = [c for c in lows if side("low", c) == "validation"]
    else:
        normal_train, normal_validation = split_by_patient(normals, config.validation_fraction, config.seed)
        held_out = {c.patient for c in normal_validation}
        trained = {c.patient for c in normal_train}
        low_validation = [c for c in lows if c.patient in held_out]
        low_train = [c for c in lows if c.patient in trained]
        others = [c for c in lows if c.patient not in held_out | trained]
        if len({c.patient for c in others}) >= 2:
            more_train, more_validation = split_by_patient(others, config.validation_fraction, config.seed)
        else:
            more_train, more_validation = others, []
        low_train, low_validation = low_train + more_train, low_validation + more_validation
    if not normal_train or not normal_validation or not low_train:
        raise ValueError("the unpaired recipe needs normal-dose training and validation cases and low-dose "
                         "training cases")
    shared = ({c.patient for c in normal_train + low_train}
              & {c.patient for c in normal_validation + low_validation})
    if shared:
        raise ValueError(f"patient(s) {', '.join(sorted(shared))} are in both training and validation data; "
                         "the split must be by patient")
    return UnpairedCases(normal_train, normal_validation, low_train, low_validation)


def save_unpaired_split(run_dir: Path, cases: UnpairedCases) -> None:
    """``split.json`` as the plain recipe writes it (normal-dose cases), plus the low-dose domain."""
    data = {"train": [asdict(c) for c in cases.normal_train],
            "validation": [asdict(c) for c in cases.normal_validation],
            "low_dose": {"train": [asdict(c) for c in cases.low_train],
                         "validation": [asdict(c) for c in cases.low_validation]},
            "patients": {"train": sorted({c.patient for c in cases.normal_train + cases.low_train}),
                         "validation": sorted({c.patient for c in cases.normal_validation + cases.low_validation})}}
    path = run_dir / SPLIT_FILE
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def load_unpaired_split(run_dir: Path) -> UnpairedCases | None:
    path = run_dir / SPLIT_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if "low_dose" not in data:
        raise ValueError(f"{path} was written by a paired run; the unpaired recipe needs its own --run-dir")
    cases = lambda items: [Case(**c) for c in items]  # noqa: E731
    return UnpairedCases(cases(data["train"]), cases(data["validation"]), cases(data["low_dose"]["train"]),
                         cases(data["low_dose"]["validation"]))


def prepare_volume(case: Case, cache: Path) -> PreparedCase:
    """One scan as an int16 HU ``.npy`` in the cache (read and checked once); the prepared case holds it as both
    ``normal`` and its single ``low``, so ``PatchBatches`` crops it like a pair of identical volumes.

    Args:
        case: a case of either domain (its ``low`` scan when it has one, else its ``normal``).
        cache: folder of prepared arrays.
    """
    source = case.low or case.normal
    key = hashlib.sha256(json.dumps([CACHE_FORMAT, "volume", _fingerprint(source)]).encode()).hexdigest()[:20]
    path = cache / "prepared" / f"{key}.volume.npy"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        volume = read_volume(source)
        check_ct_values(volume.array, name=source)
        _save(to_int16_hu(volume.array), path)
    return PreparedCase(case.name, case.patient, str(path), (str(path),), False)


def prepare_volumes(cases: list[Case], cache: Path, rank: int, world: int,
                    barrier: Callable[[], None]) -> list[PreparedCase]:
    """Prepare this rank's share, wait for the others, then describe every case."""
    for index, case in enumerate(cases):
        if index % world == rank:
            prepare_volume(case, cache)
    barrier()
    return [prepare_volume(case, cache) for case in cases]


class UnpairedBatches(Dataset):
    """Item ``step``: ``(low (B, C, Z, Y, X), normal (B, C, Z, Y, X))`` from unrelated scans, normalised; C is 2
    with ``noise_input`` (image, the noise level of the scan the patch comes from), else 1.

    A prepared scan is its own "pair" (``prepare_volume``), so ``PatchBatches`` gives each patch the engine's
    estimate of its whole scan's noise as its level (the added noise is zero), drawn within the jitter as in the
    plain recipe: what the exported denoiser is given at inference on that scan.

    Args:
        low_cases: prepared low-dose scans.
        normal_cases: prepared normal-dose scans.
        patch: patch size Z Y X.
        batch: patches of each domain per step.
        seed: the run's seed.
        rank: this process's rank.
        normalization: HU normalisation of the networks.
        noise_input: add the noise-level channel (for a noise-conditioned low -> normal generator).
        noise_level_jitter: relative error drawn into the level.
    """

    def __init__(self, low_cases: list[PreparedCase], normal_cases: list[PreparedCase], patch: tuple[int, int, int],
                 batch: int, seed: int, rank: int, normalization: HUNormalization, noise_input: bool = False,
                 noise_level_jitter: float = 0.15) -> None:
        from ..patches import PatchBatches

        common = dict(z_upscale=1, normalization=normalization, noise_input=noise_input,
                      noise_level_jitter=noise_level_jitter)
        self.low = PatchBatches(low_cases, patch, batch, seed, rank, **common)
        self.normal = PatchBatches(normal_cases, patch, batch, seed, NORMAL_DOMAIN_STREAM + rank, **common)
        self.noise_input = noise_input

    def __len__(self) -> int:
        return len(self.low)

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        # With the level, the low-dose side (image, level) of a scan's own "pair" is what both domains need.
        return self.low[step][0], self.normal[step][0 if self.noise_input else 1]


def middle_slab(path: str, halo: int, side: int = 160) -> np.ndarray:
    """The middle 2 * halo + 1 slices (fewer when the scan is thinner) of a prepared scan, central columns."""
    volume = np.load(path, mmap_mode="r")
    depth, height, width = volume.shape
    middle, y0, x0 = depth // 2, max(0, (height - side) // 2), max(0, (width - side) // 2)
    z0, z1 = max(0, middle - halo), min(depth, middle + halo + 1)
    return np.asarray(volume[z0:z1, y0:y0 + side, x0:x0 + side]).astype(np.float32)
