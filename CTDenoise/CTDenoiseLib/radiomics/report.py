"""``ctdenoise radiomics`` as a function: features of one nodule in several images, differences against a
baseline, written as features.csv, features.json and relative_change.png.

features.csv contract (read by the Slicer module, CTDenoiseSlicerLib/radiomics_table.py): first column the feature
name, then one column per image headed by the image file's stem, then derived columns whose headers contain
"diff" (absolute difference) or "rel diff" (relative difference in percent).
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path

from ..errors import CTDenoiseError
from ..io.atomic import atomic_write
from ..io.file_labels import file_labels
from ..io.label_masks import read_mask
from ..io.plausibility import check_ct_volume
from ..io.volumes import check_folder_option, make_output_folder, read_volume
from ..progress import Progress
from .features import PARAMS_FILE, extract, make_extractor, relative_difference_percent


def write_features_csv(path: Path, features: list[str], values: dict[str, dict[str, float]], baseline: str) -> None:
    labels = list(values)
    compared = [label for label in labels if label != baseline]
    header = (["feature", *labels] + [f"diff {label} vs {baseline}" for label in compared]
              + [f"rel diff {label} vs {baseline} (%)" for label in compared])
    with atomic_write(path) as partial, open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for feature in features:
            base = values[baseline][feature]
            writer.writerow([feature, *(repr(values[label][feature]) for label in labels),
                             *(repr(values[label][feature] - base) for label in compared),
                             *(repr(relative_difference_percent(values[label][feature], base)) for label in compared)])


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def compare_images(mask: str | os.PathLike, images: list[str | os.PathLike], output_dir: str | os.PathLike,
                   reference: str | os.PathLike | None = None, label: int | None = None,
                   params: str | os.PathLike | None = None, progress: Progress | None = None,
                   figure: bool = True) -> Path:
    """Features of the nodule ``label`` of ``mask`` in each image (and the reference), differences against the
    reference (or the first image). Returns the path of features.csv."""
    progress = progress or Progress()
    started = time.perf_counter()
    if not images:
        raise CTDenoiseError("No image given.", "Pass at least one --image.")
    paths = [*images, *([reference] if reference else [])]
    labels = file_labels(paths)
    baseline = labels[-1] if reference else labels[0]
    output = check_folder_option(output_dir)
    extractor = make_extractor(params)
    values: dict[str, dict[str, float]] = {}
    notes: list[str] = []
    mask_label = None
    for index, (path, name) in enumerate(zip(paths, labels)):
        volume = read_volume(path)
        check_ct_volume(volume, f"image '{path}'")
        region = read_mask(mask, volume, label)
        mask_label = region.label
        if region.note and region.note not in notes:
            notes.append(region.note)
            progress.info(region.note)
        values[name] = extract(extractor, volume, region.array)
        progress.update(index + 1, len(paths))
    features = list(values[baseline])
    make_output_folder(output)
    csv_path = output / "features.csv"
    write_features_csv(csv_path, features, values, baseline)
    compared = [name for name in labels if name != baseline]
    changes = {name: [relative_difference_percent(values[name][f], values[baseline][f]) for f in features]
               for name in compared}
    report = {
        "images": dict(zip(labels, map(str, paths))), "baseline": baseline, "mask": str(mask), "label": mask_label,
        "mask_notes": notes, "parameter_file": str(Path(params) if params else PARAMS_FILE),
        "settings": {k: v for k, v in extractor.settings.items()}, "feature_count": len(features),
        "features": {f: {name: _finite(values[name][f]) for name in labels} for f in features},
        "relative_difference_percent": {name: dict(zip(features, map(_finite, changes[name]))) for name in compared},
    }
    (output / "features.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    if figure and compared:
        from .figure import relative_change_figure

        relative_change_figure(features, changes, output / "relative_change.png", baseline)
    progress.finished(str(csv_path), time.perf_counter() - started)
    return csv_path
