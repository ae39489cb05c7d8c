"""Short, unique names for input files in tables: the file stem (``lowdose.nrrd`` -> ``lowdose``)."""

from __future__ import annotations

import os
from pathlib import Path

from .volumes import extension_of


def file_labels(paths: list[str | os.PathLike]) -> list[str]:
    """Stems, made unique with ``_2``, ``_3``... where files share a stem; a DICOM folder keeps its name."""
    labels: list[str] = []
    for path in map(Path, paths):
        stem = path.name if path.is_dir() else path.name[: len(path.name) - len(extension_of(path))]
        label, count = stem, 1
        while label in labels:
            count += 1
            label = f"{stem}_{count}"
        labels.append(label)
    return labels
