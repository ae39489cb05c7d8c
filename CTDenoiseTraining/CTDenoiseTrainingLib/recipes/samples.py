"""PNG samples of the unpaired recipe at each validation: a row per scan (held-out low dose: input | output;
simulated validation: input | output | normal dose), the middle slice, soft-tissue window."""

from __future__ import annotations

from pathlib import Path

import numpy as np

WINDOW_HU = (-160.0, 240.0)  # soft tissue, where noise and over-smoothing show


def to_grey(hu: np.ndarray) -> np.ndarray:
    """HU to 8-bit grey in ``WINDOW_HU``."""
    low, high = WINDOW_HU
    return (np.clip((hu - low) / (high - low), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_samples(path: Path, rows: list[list[np.ndarray]], gap: int = 4) -> Path:
    """One PNG of slices (HU), a row per scan, padded to a common size.

    Args:
        path: the PNG to write (its folder is created).
        rows: each a list of 2D HU slices shown side by side.
        gap: pixels between panels.
    """
    from PIL import Image

    height = max(s.shape[0] for row in rows for s in row)
    width = max(len(row) * (s.shape[1] + gap) for row in rows for s in row)
    canvas = np.zeros((len(rows) * (height + gap), width), dtype=np.uint8)
    for r, row in enumerate(rows):
        x = 0
        for image in row:
            grey = to_grey(image)
            canvas[r * (height + gap):r * (height + gap) + grey.shape[0], x:x + grey.shape[1]] = grey
            x += grey.shape[1] + gap
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(canvas).save(path)
    return path
