"""The radiomics comparison shown in the module: feature values per image, the relative difference of each image
to the reference, and a flag where it is above the user's threshold.

Reads the engine's ``features.csv`` (one row per feature, a first column with the feature name, one column per
image; the columns are found by the image labels the module passed as file names). Relative differences are
recomputed here so that the threshold and the reference are the panel's, whatever else the file holds.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

_DERIVED = ("rel", "diff", "%", "flag", "ccc", "icc")


@dataclass(frozen=True)
class FeatureRow:
    feature: str
    values: tuple[float, ...]  # one per image, in the order of FeatureTable.images
    relative_differences: tuple[float | None, ...]  # percent, one per compared image; None: reference is 0
    flagged: tuple[str, ...]  # the compared images above the threshold


@dataclass(frozen=True)
class FeatureTable:
    images: tuple[str, ...]
    reference: str
    compared: tuple[str, ...]
    threshold_percent: float
    rows: tuple[FeatureRow, ...]

    @property
    def header(self) -> list[str]:
        return (["feature", *self.images] + [f"relative difference {name} (%)" for name in self.compared]
                + ["above threshold"])

    def records(self) -> list[list[str]]:
        return [[row.feature, *(f"{v:.6g}" for v in row.values),
                 *("n/a" if d is None else f"{d:.2f}" for d in row.relative_differences), ", ".join(row.flagged)]
                for row in self.rows]


def relative_difference_percent(value: float, reference: float) -> float | None:
    if reference == 0:
        return 0.0 if value == 0 else None
    return 100.0 * (value - reference) / abs(reference)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _find_columns(header: list[str], labels: list[str]) -> list[int]:
    candidates = [i for i, name in enumerate(header) if i > 0 and not any(d in name.lower() for d in _DERIVED)]
    found = []
    for label in labels:
        exact = [i for i in candidates if header[i].strip().lower() == label.lower()]
        partial = [i for i in candidates if label.lower() in header[i].lower()]
        found.append((exact or partial or [None])[0])
    if None in found:  # fall back to the order of the image columns
        if len(candidates) < len(labels):
            raise ValueError(f"features.csv has columns {header}; expected one per image {labels}")
        found = candidates[: len(labels)]
    return found


def compare(csv_path: str | Path, labels: list[str], reference: str, threshold_percent: float) -> FeatureTable:
    """Compare every image in ``labels`` except ``reference`` with ``reference``.

    Raises ValueError when the file has no feature rows: an empty table is never shown as a result.
    """
    with open(csv_path, newline="", encoding="utf-8") as handle:
        table = [row for row in csv.reader(handle) if row]
    if len(table) < 2:
        raise ValueError(f"{csv_path} holds no features.")
    columns = _find_columns(table[0], labels)
    reference_index = labels.index(reference)
    compared = [i for i in range(len(labels)) if i != reference_index]
    rows = []
    for record in table[1:]:
        values = [_number(record[c]) if c < len(record) else None for c in columns]
        if any(value is None for value in values):
            continue  # diagnostics and text rows
        differences = [relative_difference_percent(values[i], values[reference_index]) for i in compared]
        flagged = [labels[i] for i, d in zip(compared, differences) if d is None or abs(d) > threshold_percent]
        rows.append(FeatureRow(record[0], tuple(values), tuple(differences), tuple(flagged)))
    if not rows:
        raise ValueError(f"{csv_path} has no numeric feature rows for images {labels}.")
    return FeatureTable(tuple(labels), reference, tuple(labels[i] for i in compared), threshold_percent, tuple(rows))


def write_csv(table: FeatureTable, path: str | Path) -> Path:
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.header)
        writer.writerows(table.records())
    return path
