"""A DICOM folder is listed by GDCM (every file's header read) once on the main path, and again only when its
files change between the check and the read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import SimpleITK as sitk

from CTDenoiseLib.errors import CTDenoiseError
from CTDenoiseLib.io.volumes import check_input, read_volume

from conftest import shared_path

LIDC3_DICOM = "lidc/LIDC-IDRI-0003/dicom"


@pytest.fixture
def gdcm_listings(monkeypatch) -> list[str]:
    calls: list[str] = []
    original = sitk.ImageSeriesReader.GetGDCMSeriesIDs

    def counted(folder, *args):
        calls.append(folder)
        return original(folder, *args)

    monkeypatch.setattr(sitk.ImageSeriesReader, "GetGDCMSeriesIDs", staticmethod(counted))
    return calls


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "series"
    shutil.copytree(shared_path(LIDC3_DICOM), folder)
    return folder


def test_the_check_and_the_read_list_the_folder_once(tmp_path: Path, gdcm_listings: list[str]) -> None:
    folder = _copy(tmp_path)
    check_input(folder)
    assert read_volume(folder).array.shape[0] == 11
    assert len(gdcm_listings) == 1


def test_a_slice_removed_after_the_check_is_seen_by_the_read(tmp_path: Path, gdcm_listings: list[str]) -> None:
    folder = _copy(tmp_path)
    check_input(folder)
    (folder / "slice_z-184.000000.dcm").unlink()
    with pytest.raises(CTDenoiseError, match="missing"):
        read_volume(folder)
    assert len(gdcm_listings) == 2


def test_a_slice_damaged_in_place_after_the_check_is_seen_by_the_read(tmp_path: Path,
                                                                     gdcm_listings: list[str]) -> None:
    folder = _copy(tmp_path)
    check_input(folder)
    damaged = folder / "slice_z-184.000000.dcm"
    damaged.write_bytes(damaged.read_bytes()[:2000])
    with pytest.raises(CTDenoiseError, match="missing or unreadable"):
        read_volume(folder)
