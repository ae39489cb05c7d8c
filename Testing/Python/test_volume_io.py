"""Geometry survives reading and writing in every supported format, DICOM series included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from CTDenoiseLib.errors import CTDenoiseError
from CTDenoiseLib.io.volumes import Volume, read_volume, write_volume

from conftest import shared_path


def assert_same_geometry(a: Volume, b: Volume) -> None:
    assert a.array.shape == b.array.shape
    np.testing.assert_allclose(a.spacing, b.spacing, rtol=1e-5)
    np.testing.assert_allclose(a.origin, b.origin, atol=1e-3)
    np.testing.assert_allclose(a.direction, b.direction, atol=1e-6)


@pytest.mark.parametrize("source", ["lidc/LIDC-IDRI-0003/image.nrrd", "totalsegmentator/chest_crop_1p5mm.nii.gz",
                                    "lidc/LIDC-IDRI-0003/dicom", "totalsegmentator/dicom_jpeg2000"])
@pytest.mark.parametrize("extension", [".nrrd", ".nii.gz", ".mha"])
def test_round_trip_keeps_geometry_and_values(source: str, extension: str, tmp_path: Path) -> None:
    original = read_volume(shared_path(source))
    written = write_volume(original, tmp_path / f"copy{extension}")
    again = read_volume(written)
    assert_same_geometry(original, again)
    np.testing.assert_array_equal(original.array, again.array)
    assert [p.name for p in tmp_path.iterdir()] == [written.name]  # no temporary file left


def test_dicom_series_matches_the_nrrd_of_the_same_slices() -> None:
    from_dicom = read_volume(shared_path("lidc/LIDC-IDRI-0001/dicom"))
    from_nrrd = read_volume(shared_path("lidc/LIDC-IDRI-0001/image.nrrd"))
    assert_same_geometry(from_dicom, from_nrrd)
    np.testing.assert_array_equal(from_dicom.array, from_nrrd.array)


def test_jpeg2000_dicom_decodes_to_plausible_hu() -> None:
    volume = read_volume(shared_path("totalsegmentator/dicom_jpeg2000"))
    assert volume.array.shape == (20, 512, 512)
    assert volume.spacing[2] == pytest.approx(2.0, abs=0.01)
    assert volume.array.min() == -1024 and 1000 < volume.array.max() < 4000


def test_folder_without_dicom_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CTDenoiseError, match="No DICOM series found"):
        read_volume(tmp_path)


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600)])
def test_written_files_get_the_permissions_the_umask_gives_not_the_temporary_files_0600(
        umask: int, expected: int, tmp_path: Path) -> None:
    import os

    import torch

    from CTDenoiseLib.models import ModelConfig, build_model
    from CTDenoiseLib.models.files import save_model

    config = ModelConfig("stresnet", 4, 1, 1)
    previous = os.umask(umask)
    try:
        volume = write_volume(Volume(np.zeros((2, 3, 4), np.int16), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0),
                                     tuple(np.eye(3).ravel())), tmp_path / "out.nrrd")
        weights, card = save_model(build_model(config).to(torch.float32), config, {}, tmp_path, "tiny")
    finally:
        os.umask(previous)
    for path in (volume, weights, card):
        assert path.stat().st_mode & 0o777 == expected, path.name
