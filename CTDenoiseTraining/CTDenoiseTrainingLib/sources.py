"""Where training cases come from and how they are split: by patient, never by patch, saved with the run.

A case is one normal-dose volume and, when the site has it, the real low-dose scan of the same acquisition
(otherwise low dose is simulated). Cases come from explicit lists (``train``/``validation``), a folder of
normal-dose volumes (``data_dir``) optionally paired by name with a folder of low-dose scans (``low_dose_dir``),
or a CSV (``pairs_csv``) with columns ``normal`` and optionally ``low``, ``patient`` and ``split``.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from CTDenoiseLib.io.atomic import write_text_atomic

from .config import TrainConfig

VOLUME_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")
SPLIT_FILE = "split.json"


@dataclass(frozen=True)
class Case:
    name: str
    patient: str
    normal: str
    low: str = ""  # real low-dose scan; empty: simulated


def case_name(path: str | Path) -> str:
    """A volume's name without its extension (a DICOM series folder: the folder's name)."""
    path = Path(path)
    name = path.name
    for suffix in VOLUME_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def unique_names(paths: list[str]) -> list[str]:
    """Case names for files from different folders: the file name without extension, prefixed by as many parent
    folders as it takes to tell them apart (``LIDC-IDRI-0001/image`` and ``LIDC-IDRI-0003/image``). The same
    file listed twice keeps one name (and so counts as one patient)."""
    resolved = [Path(path).resolve() for path in paths]
    depth = 0
    while True:
        names = ["/".join([*p.parent.parts[len(p.parent.parts) - depth:], case_name(p)]) if depth else case_name(p)
                 for p in resolved]
        clashes = {name for name, path in zip(names, resolved)
                   if any(n == name and q != path for n, q in zip(names, resolved))}
        if not clashes or depth >= max(len(p.parts) for p in resolved):
            return names
        depth += 1


def patient_of(name: str, pattern: str) -> str:
    if not pattern:
        return name
    match = re.search(pattern, name)
    if not match:
        raise ValueError(f"patient_pattern {pattern!r} does not match case name {name!r}")
    return match.group(1) if match.groups() else match.group(0)


def list_volumes(folder: str | Path) -> dict[str, Path]:
    """Volume files and DICOM series subfolders of ``folder`` by case name (hidden entries ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"data folder {folder} does not exist")
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() or entry.name.lower().endswith(VOLUME_SUFFIXES):
            name = case_name(entry)
            if name in found:
                raise ValueError(f"two volumes in {folder} are both named {name!r}: {found[name].name}, {entry.name}")
            found[name] = entry
    if not found:
        raise ValueError(f"no volumes ({', '.join(VOLUME_SUFFIXES)} files or DICOM series folders) in {folder}")
    return found


def cases_from_folders(normal_dir: str, low_dir: str = "", pattern: str = "") -> list[Case]:
    normals = list_volumes(normal_dir)
    lows = list_volumes(low_dir) if low_dir else {}
    if low_dir:
        missing = sorted(set(normals) - set(lows))
        if missing:
            raise ValueError(f"no low-dose scan in {low_dir} named like the normal-dose {', '.join(missing[:5])}"
                             f"{' ...' if len(missing) > 5 else ''} (pairs are matched by name)")
    return [Case(name, patient_of(name, pattern), str(path), str(lows[name]) if lows else "")
            for name, path in normals.items()]


def cases_from_csv(csv_path: str, pattern: str = "") -> tuple[list[Case], dict[str, str]]:
    """Cases and the CSV's own split (case name -> 'train' | 'validation') where it has a ``split`` column."""
    base = Path(csv_path).resolve().parent
    cases, split = [], {}
    with open(csv_path, newline="", encoding="utf-8-sig") as stream:
        rows = list(csv.DictReader(stream))
    if not rows or "normal" not in rows[0]:
        raise ValueError(f"{csv_path} needs a header with at least a 'normal' column (optional: low, patient, split)")
    normals = [str(base / row["normal"]) if not os.path.isabs(row["normal"]) else row["normal"] for row in rows]
    for row, normal, name in zip(rows, normals, unique_names(normals)):
        low = (row.get("low") or "").strip()
        low = str(base / low) if low and not os.path.isabs(low) else low
        patient = (row.get("patient") or "").strip() or patient_of(name, pattern)
        cases.append(Case(name, patient, normal, low))
        value = (row.get("split") or "").strip().lower()
        if value:
            if value not in ("train", "validation"):
                raise ValueError(f"{csv_path}: split must be 'train' or 'validation', got {value!r}")
            split[name] = value
    names = [case.name for case in cases]
    if len(names) != len(set(names)):
        raise ValueError(f"{csv_path} lists two volumes with the same name")
    return cases, split


def split_by_patient(cases: list[Case], fraction: float, seed: int) -> tuple[list[Case], list[Case]]:
    """Whole patients go to validation (at least one, at most all but one), chosen reproducibly from ``seed``."""
    patients = sorted({case.patient for case in cases})
    if len(patients) < 2:
        raise ValueError("splitting by patient needs at least two patients; give validation volumes explicitly")
    random.Random(seed).shuffle(patients)
    count = min(len(patients) - 1, max(1, round(fraction * len(patients))))
    held_out = set(patients[:count])
    return [c for c in cases if c.patient not in held_out], [c for c in cases if c.patient in held_out]


def gather_cases(config: TrainConfig) -> tuple[list[Case], list[Case]]:
    """Training and validation cases from the configuration; fails if a patient is on both sides."""
    listed = unique_names([*config.train, *config.validation])
    train_names, validation_names = listed[:len(config.train)], listed[len(config.train):]
    explicit_validation = [Case(name, patient_of(name, config.patient_pattern), p)
                           for name, p in zip(validation_names, config.validation)]
    if config.train:
        train = [Case(name, patient_of(name, config.patient_pattern), p) for name, p in zip(train_names, config.train)]
        validation = explicit_validation
    else:
        if config.pairs_csv:
            cases, csv_split = cases_from_csv(config.pairs_csv, config.patient_pattern)
        elif config.data_dir:
            cases, csv_split = cases_from_folders(config.data_dir, config.low_dose_dir, config.patient_pattern), {}
        else:
            raise ValueError("no training data: give --train volumes, --data-dir or --pairs-csv")
        if csv_split:
            train = [c for c in cases if csv_split.get(c.name, "train") == "train"]
            validation = [c for c in cases if csv_split.get(c.name) == "validation"] + explicit_validation
        elif explicit_validation:
            train, validation = cases, explicit_validation
        else:
            train, validation = split_by_patient(cases, config.validation_fraction, config.seed)
    if config.phantom_pairs:
        train = [*train, phantom_case(config.phantom_pairs, config.simulation_cache(Path(config.run_dir)))]
    if not train or not validation:
        raise ValueError("training needs at least one training and one validation case")
    shared = {c.patient for c in train} & {c.patient for c in validation}
    if shared:
        raise ValueError(f"patient(s) {', '.join(sorted(shared))} are in both training and validation data; "
                         "the split must be by patient")
    return train, validation


PHANTOM_CASE = "mita-phantom-real-noise"
IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def phantom_case(root: str, cache: Path) -> Case:
    """The MITA phantom's real-noise training case (``lcd_phantom.training_pair``), written once as NRRD into
    ``cache`` (1 mm voxels, as scanned) and read back like any real low-dose pair.

    Args:
        root: the phantom's scan folder (``lcd_ct_phantom/fbp``).
        cache: the run's simulation cache folder.
    """
    from CTDenoiseLib.io.volumes import Volume, write_volume
    from CTDenoiseLib.simulation.lcd_phantom import training_pair

    if not (Path(root) / "ground_truth.mhd").is_file():
        raise ValueError(f"phantom_pairs {root} is not the MITA phantom's scan folder (lcd_ct_phantom/fbp)")
    folder = Path(cache) / "phantom-pairs"
    paths = {"low": folder / "low.nrrd", "normal": folder / "normal.nrrd"}
    if not all(path.is_file() for path in paths.values()):
        folder.mkdir(parents=True, exist_ok=True)
        for key, array in zip(("low", "normal"), training_pair(Path(root))):
            volume = Volume(np.rint(array).astype(np.int16), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), IDENTITY)
            write_volume(volume, paths[key])
    return Case(PHANTOM_CASE, PHANTOM_CASE, str(paths["normal"]), str(paths["low"]))


def save_split(run_dir: Path, train: list[Case], validation: list[Case]) -> Path:
    path = run_dir / SPLIT_FILE
    data = {"train": [asdict(c) for c in train], "validation": [asdict(c) for c in validation],
            "patients": {"train": sorted({c.patient for c in train}),
                         "validation": sorted({c.patient for c in validation})}}
    return write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def load_split(run_dir: Path) -> tuple[list[Case], list[Case]] | None:
    path = run_dir / SPLIT_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Case(**c) for c in data["train"]], [Case(**c) for c in data["validation"]]
