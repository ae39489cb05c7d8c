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


@pytest.fixture
def slicer_core(monkeypatch, tmp_path: Path, tmp_path_factory):
    """The module's Slicer-side files on Slicer's real MRML classes (slicer_core_harness.py), with ``tmp_path`` as
    Slicer's temporary folder; skips, saying why, where slicer-core is not installed. An error Slicer's classes log
    during the test fails it: they log errors instead of raising them."""
    import fake_slicer
    import slicer_core_harness

    harness = slicer_core_harness.install(monkeypatch, tmp_path)
    log = tmp_path_factory.mktemp("vtk-log") / "vtk.log"
    slicer_core_harness.log_vtk_errors(log)
    yield harness
    fake_slicer.forget_slicer_side()
    errors = slicer_core_harness.vtk_errors_logged(log)
    assert not errors, f"Slicer's classes logged errors: {errors}"
