"""Shared test fixtures: where the real CT lives, and small real volumes cut from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_path(relative: str) -> Path:
    """A file in ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real CT data not found at {path} (../shared is absent, e.g. in a fresh clone)")
    return path


@pytest.fixture
def lidc_crop(tmp_path: Path) -> Path:
    """LIDC-IDRI-0003 (the shipped models never saw it: not trained on, not their validation case), all 11
    slices, central 128x128, as NRRD."""
    from CTDenoiseLib.io.volumes import Volume, read_volume, write_volume

    volume = read_volume(shared_path("lidc/LIDC-IDRI-0003/image.nrrd"))
    crop = np.ascontiguousarray(volume.array[:, 192:320, 192:320])
    path = tmp_path / "lidc0003_crop.nrrd"
    write_volume(Volume(crop, volume.spacing, volume.origin, volume.direction), path)
    return path
