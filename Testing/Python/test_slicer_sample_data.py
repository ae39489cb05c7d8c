"""The sample data ships with the module: its files exist, match the SHA-256 that SampleData checks, are small,
are listed in the module's CMakeLists (or Slicer would not install them), load through a file:// URI without
network access, and are registered without any SampleData call newer than Slicer 5.10."""

from __future__ import annotations

import hashlib
import re
import sys
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "CTDenoise"))

from CTDenoiseSlicerLib import sample_data  # noqa: E402

MAX_BYTES = 3 * 1024 * 1024


@pytest.mark.parametrize("entry", sample_data.SHIPPED, ids=lambda e: e.file_name)
def test_shipped_file_exists_matches_its_checksum_and_is_small(entry) -> None:
    path = sample_data.SAMPLE_DIR / entry.file_name
    assert path.is_file(), f"{path} is missing (see docs/slicer.md, 'Sample data')"
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry.sha256, f"{entry.file_name}: update its SHA-256 in sample_data.py"
    assert len(data) < MAX_BYTES
    assert data.startswith(b"NRRD") and b"encoding: gzip" in data[:2000]


def test_shipped_files_are_listed_in_the_cmakelists() -> None:
    text = (REPO / "CTDenoise/CMakeLists.txt").read_text()
    resources = re.search(r"set\(\s*MODULE_PYTHON_RESOURCES\b(.*?)\)", text, re.S).group(1).split()
    for entry in sample_data.SHIPPED:
        relative = (sample_data.SAMPLE_DIR / entry.file_name).relative_to(REPO / "CTDenoise").as_posix()
        assert relative in resources, f"add {relative} to MODULE_PYTHON_RESOURCES"
    assert sample_data.THUMBNAIL.relative_to(REPO / "CTDenoise").as_posix() in resources


class FakeSampleDataLogic:
    """SampleDataLogic as of Slicer 5.10: no registerCustomSampleDataCategory (5.12)."""

    sources: list[dict] = []

    @classmethod
    def registerCustomSampleDataSource(cls, **kwargs) -> None:
        cls.sources.append(kwargs)


def test_registration_works_on_slicer_510_and_offline(tmp_path: Path) -> None:
    FakeSampleDataLogic.sources = []
    sample_data.register(FakeSampleDataLogic)
    shipped, larger = FakeSampleDataLogic.sources
    assert shipped["sampleName"] == sample_data.SAMPLE_NAME and shipped["category"] == sample_data.CATEGORY
    assert shipped["loadFileTypes"] == ["VolumeFile", "SegmentationFile"]
    assert Path(shipped["thumbnailFileName"]).is_file()
    for uri, name, checksum in zip(shipped["uris"], shipped["fileNames"], shipped["checksums"], strict=True):
        assert uri.startswith("file://")
        copy = tmp_path / name
        urllib.request.urlretrieve(uri, copy)  # what SampleData.downloadFile does with the URI
        algorithm, digest = checksum.split(":")
        assert algorithm == "SHA256" and hashlib.sha256(copy.read_bytes()).hexdigest() == digest
    assert all(uri.startswith(sample_data.RELEASE_URL) for uri in larger["uris"])  # the optional download


def test_the_sample_has_the_nodule_on_the_volumes_grid() -> None:
    sitk = pytest.importorskip("SimpleITK")
    volume, mask = (sitk.ReadImage(str(sample_data.SAMPLE_DIR / entry.file_name)) for entry in sample_data.SHIPPED)
    assert volume.GetSize() == mask.GetSize() and volume.GetOrigin() == mask.GetOrigin()
    assert volume.GetSpacing() == mask.GetSpacing() and volume.GetPixelIDTypeAsString() == "16-bit signed integer"
    assert sitk.GetArrayViewFromImage(mask).sum() > 1000  # the nodule: 3796 voxels marked by >= 2 of 4 readers
