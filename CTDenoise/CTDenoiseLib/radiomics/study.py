"""The denoising radiomics study: nodules x simulated low-dose realisations x {low dose, each model}, each
compared with normal dose (paired t-test, Wilcoxon, Lin's CCC), plus the image quality of every volume.

Per case the slices around the nodule are simulated whole (the noise is inserted in projections of full slices),
then everything else runs on a box around the nodule: denoising (with the model's halo inside the box), features
and quality metrics.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import CTDenoiseError
from ..evaluation.quality import CONVENTIONS, evaluate_case, summarise, write_rows
from ..io.label_masks import read_mask
from ..io.volumes import Volume, make_output_folder, read_volume
from ..progress import Progress
from ..simulation.low_dose import DoseSimulation, simulate_volume
from ..vocabulary import Precision
from .features import PARAMS_FILE, enabled_features, extract, make_extractor
from .stats import ALPHA, CCC_THRESHOLD, SAMPLE_SIZE_NOTE, agreement, consistency_counts

if TYPE_CHECKING:
    from ..inference.pipeline import Engine

NORMAL_DOSE = "normal dose"
LOW_DOSE = "low dose"
Z_MARGIN = 4  # slices simulated beyond the nodule on each side
XY_MARGIN = 32  # voxels kept around the nodule in-plane (more than the models' halo)


@dataclass(frozen=True)
class StudyCase:
    name: str
    image: Path
    mask: Path


def find_cases(folders: list[str | os.PathLike], image_name: str, mask_name: str) -> list[StudyCase]:
    """Each folder holds ``image_name`` and ``mask_name``; a folder without them is searched one level down
    (so ``../shared/data/lidc`` finds every LIDC case)."""
    cases = []
    for folder in map(Path, folders):
        candidates = [folder] if (folder / image_name).is_file() else sorted(p for p in folder.glob("*") if p.is_dir())
        for candidate in candidates:
            if (candidate / image_name).is_file() and (candidate / mask_name).is_file():
                cases.append(StudyCase(candidate.name, candidate / image_name, candidate / mask_name))
    if not cases:
        raise CTDenoiseError(f"No case with '{image_name}' and '{mask_name}' in {[str(f) for f in folders]}.",
                             "Give folders that hold the CT and its nodule mask (see --image-name/--mask-name).")
    return cases


def nodule_box(mask: np.ndarray) -> tuple[slice, slice, slice]:
    nonzero = np.nonzero(mask)
    margins = (Z_MARGIN, XY_MARGIN, XY_MARGIN)
    return tuple(slice(max(0, int(i.min()) - m), min(n, int(i.max()) + m + 1))
                 for i, m, n in zip(nonzero, margins, mask.shape))


def crop(volume: Volume, box: tuple[slice, ...]) -> Volume:
    """A sub-volume with the origin moved to its first voxel (direction and spacing kept)."""
    corner = np.array([box[2].start, box[1].start, box[0].start], float) * np.asarray(volume.spacing)
    origin = np.asarray(volume.origin) + np.asarray(volume.direction).reshape(3, 3) @ corner
    return Volume(np.ascontiguousarray(volume.array[box]), volume.spacing, tuple(origin), volume.direction)


def _engines(models: list[str]) -> dict[str, Engine]:
    from ..inference.pipeline import prepare_engine

    return {name: prepare_engine(name, Precision.FP32) for name in models}


def run_study(cases: list[StudyCase], models: list[str], realisations: int, simulation: DoseSimulation,
              output_dir: str | os.PathLike, label: int | None = None, params: str | os.PathLike | None = None,
              alpha: float = ALPHA, ccc_threshold: float = CCC_THRESHOLD, progress: Progress | None = None) -> dict:
    """Run the study, write its tables, JSON and figure into ``output_dir``; returns the JSON summary.
    Realisation r of case k uses ``simulation`` with seed ``simulation.seed + 1000 k + r``."""
    from ..hu import to_int16_hu
    from ..io.plausibility import check_ct_volume

    progress = progress or Progress()
    started = time.perf_counter()
    if realisations < 1:
        raise CTDenoiseError("--realisations must be at least 1.")
    output = make_output_folder(output_dir)
    extractor = make_extractor(params)
    features = enabled_features(extractor)
    engines = _engines(models)
    methods = [LOW_DOSE, *models]
    values: dict[tuple[str, int, str], dict[str, float]] = {}  # (case, realisation, method) -> features
    reference_values: dict[str, dict[str, float]] = {}
    quality_rows, notes = [], []
    total, done = len(cases) * realisations, 0
    for case_index, case in enumerate(cases):
        volume = read_volume(case.image)
        check_ct_volume(volume, f"image '{case.image}'")
        region = read_mask(case.mask, volume, label)
        if region.note:
            notes.append(region.note)
        box = nodule_box(region.array)
        slab = crop(volume, (box[0], slice(None), slice(None)))
        in_plane = (slice(None), box[1], box[2])
        normal = crop(slab, in_plane)
        nodule = region.array[box]
        reference_values[case.name] = extract(extractor, normal, nodule)
        for realisation in range(realisations):
            settings = dataclasses.replace(simulation, seed=simulation.seed + 1000 * case_index + realisation)
            low = crop(simulate_volume(slab, settings), in_plane)
            images = {LOW_DOSE: to_int16_hu(low.array)}
            for name, engine in engines.items():
                images[name] = to_int16_hu(engine.denoise(low.array))
            for method, array in images.items():
                values[case.name, realisation, method] = extract(extractor, normal.with_array(array), nodule)
            result = evaluate_case(normal, images, f"{case.name}#{realisation}")
            quality_rows += result.rows
            if result.lpips_note and f"LPIPS unavailable: {result.lpips_note}" not in notes:
                notes.append(f"LPIPS unavailable: {result.lpips_note}")
            done += 1
            progress.update(done, total)
    _write_features(output / "study_features.csv", values, reference_values, features)
    agreements = [agreement(feature, method,
                            np.array([v[feature] for (c, r, m), v in values.items() if m == method]),
                            np.array([reference_values[c][feature] for (c, r, m) in values if m == method]),
                            alpha, ccc_threshold)
                  for method in methods for feature in features]
    write_rows(output / "study_agreement.csv", [a.to_dict() for a in agreements])
    write_rows(output / "study_quality.csv", quality_rows)
    quality_summary = summarise(quality_rows)
    write_rows(output / "study_quality_summary.csv", quality_summary)
    from .figure import study_figure

    study_figure(agreements, output / "radiomics_study.png", NORMAL_DOSE, alpha, ccc_threshold)
    summary = {
        "cases": [c.name for c in cases], "realisations": realisations, "simulation": simulation.to_dict(),
        "pairs_per_method": len(cases) * realisations,
        "methods": methods, "baseline": NORMAL_DOSE, "feature_count": len(features), "alpha": alpha,
        "ccc_threshold": ccc_threshold, "consistent_features": consistency_counts(agreements),
        "note": SAMPLE_SIZE_NOTE, "notes": notes,
        "box": f"slices of the nodule +-{Z_MARGIN} simulated whole; nodule +-{XY_MARGIN} voxels in-plane analysed",
        "parameter_file": str(Path(params) if params else PARAMS_FILE), "settings": dict(extractor.settings),
        "quality_conventions": CONVENTIONS,
        "quality_summary": quality_summary, "seconds": round(time.perf_counter() - started, 1),
    }
    (output / "study.json").write_text(json.dumps(summary, indent=1, default=str) + "\n", encoding="utf-8")
    progress.finished(str(output / "study.json"), time.perf_counter() - started)
    return summary


def _write_features(path: Path, values: dict, reference_values: dict, features: list[str]) -> None:
    """Long format: case, realisation, method, feature, value (normal dose once per case, realisation empty)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case", "realisation", "method", "feature", "value"])
        for case, reference in reference_values.items():
            writer.writerows([case, "", NORMAL_DOSE, f, repr(reference[f])] for f in features)
        for (case, realisation, method), row in values.items():
            writer.writerows([case, realisation, method, f, repr(row[f])] for f in features)
