"""The sample data entry: checksums well formed, thumbnail present, and (where the files were built here, in
build/sample-data) the checksums are those of the files to upload."""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "CTDenoise"))

from CTDenoiseSlicerLib import sample_data  # noqa: E402


def test_entries_are_complete() -> None:
    names = [name for name, _, _, _ in sample_data.FILES]
    assert len(set(names)) == len(names) == 2
    for name, digest, node, kind in sample_data.FILES:
        assert re.fullmatch(r"[0-9a-f]{64}", digest), f"{name}: not a SHA-256"
        assert kind in ("VolumeFile", "SegmentationFile") and node
    assert {kind for _, _, _, kind in sample_data.FILES} == {"VolumeFile", "SegmentationFile"}
    assert sample_data.RELEASE_URL.startswith("https://") and sample_data.RELEASE_URL.endswith("/")
    assert (REPO / "CTDenoise/Resources/Icons/CTDenoiseSample.png").is_file()


@pytest.mark.parametrize("entry", sample_data.FILES, ids=lambda e: e[0])
def test_checksum_matches_the_built_file(entry) -> None:
    path = REPO / "build" / "sample-data" / entry[0]
    if not path.is_file():
        pytest.skip(f"{path} not built here (see docs/slicer.md, 'Sample data')")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry[1]
