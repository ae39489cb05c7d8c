"""The radiomics wrapper adds no error to pyradiomics, and features.csv keeps the Slicer module's contract."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from CTDenoiseLib.cli import main
from CTDenoiseLib.io.volumes import Volume, read_volume, write_volume
from CTDenoiseLib.radiomics.features import PARAMS_FILE
from CTDenoiseLib.radiomics.report import compare_images

from conftest import shared_path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "CTDenoise"))
from CTDenoiseSlicerLib.radiomics_table import compare  # noqa: E402

radiomics = pytest.importorskip("radiomics", reason="pyradiomics not installed (pip install pyradiomics-bhklab)")


@pytest.fixture(scope="module")
def nodule(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """LIDC-IDRI-0003's consensus nodule: a 40x40-voxel box around it over all slices, image, mask labelled 3
    (to exercise --label), and a noisier copy of the image. Small, so that the test is fast."""
    folder = tmp_path_factory.mktemp("nodule")
    image = read_volume(shared_path("lidc/LIDC-IDRI-0003/image.nrrd"))
    mask = read_volume(shared_path("lidc/LIDC-IDRI-0003/nodule_consensus50.nrrd"))
    box = (slice(None), slice(330, 372), slice(346, 390))
    crop = lambda v, a: Volume(np.ascontiguousarray(a), v.spacing,  # noqa: E731
                               tuple(np.asarray(v.origin) + np.array([346, 330, 0]) * np.asarray(v.spacing)),
                               v.direction)
    assert mask.array[box].sum() == mask.array.sum(), "the box must hold the whole nodule"
    noisy = image.array[box] + np.random.default_rng(1).normal(0, 40, image.array[box].shape)
    paths = folder / "reference.nrrd", folder / "nodule.nrrd", folder / "lowdose.nrrd"
    write_volume(crop(image, image.array[box]), paths[0])
    write_volume(crop(mask, (mask.array[box] > 0).astype(np.uint8) * 3), paths[1])
    write_volume(crop(image, noisy.astype(np.int16)), paths[2])
    return paths


def _direct(image: Path, mask: Path) -> dict[str, float]:
    """pyradiomics on the files, nothing of ours in between."""
    from radiomics import featureextractor

    radiomics.setVerbosity(40)
    result = featureextractor.RadiomicsFeatureExtractor(str(PARAMS_FILE)).execute(str(image), str(mask), label=3)
    return {k.removeprefix("original_"): float(v) for k, v in result.items() if not k.startswith("diagnostics_")}


def _read(csv_path: Path) -> tuple[list[str], dict[str, list[str]]]:
    with open(csv_path, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], {row[0]: row[1:] for row in rows[1:]}


def test_features_equal_pyradiomics_called_directly(nodule: tuple[Path, Path, Path], tmp_path: Path) -> None:
    reference, mask, lowdose = nodule
    header, table = _read(compare_images(mask, [lowdose], tmp_path, reference=reference, label=3, figure=False))
    assert header[:3] == ["feature", "lowdose", "reference"]
    for column, image in ((1, lowdose), (2, reference)):
        expected = _direct(image, mask)
        assert list(table) == list(expected) and len(expected) == 72
        for feature, value in expected.items():
            assert float(table[feature][column - 1]) == pytest.approx(value, rel=1e-12, abs=1e-12), feature
    # An independent anchor: the first-order mean is the mean HU of the nodule's voxels.
    image, region = read_volume(reference).array, read_volume(mask).array == 3
    assert float(table["firstorder_Mean"][1]) == pytest.approx(image[region].mean(), rel=1e-9)


def test_differences_and_slicer_table_read_the_same_numbers(nodule: tuple[Path, Path, Path], tmp_path: Path) -> None:
    reference, mask, lowdose = nodule
    csv_path = compare_images(mask, [lowdose], tmp_path, reference=reference, label=3)
    header, table = _read(csv_path)
    assert header[3:] == ["diff lowdose vs reference", "rel diff lowdose vs reference (%)"]
    low, ref, diff, rel = map(float, table["glcm_Contrast"])
    assert diff == pytest.approx(low - ref) and rel == pytest.approx(100 * (low - ref) / abs(ref))
    assert rel > 5, "40 HU of added noise must raise GLCM contrast (by 8.6 % here)"
    slicer = compare(csv_path, ["lowdose", "reference"], "reference", threshold_percent=10.0)
    row = next(r for r in slicer.rows if r.feature == "glcm_Contrast")
    assert row.values == (low, ref) and row.relative_differences[0] == pytest.approx(rel)
    assert len(slicer.rows) == 72
    report = json.loads((tmp_path / "features.json").read_text())
    assert report["baseline"] == "reference" and report["settings"]["binWidth"] == 25 and report["label"] == 3
    assert (tmp_path / "relative_change.png").stat().st_size > 10_000


def test_slicer_command_line_with_json_progress(nodule: tuple[Path, Path, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    """The exact argv shape CTDenoiseSlicerLib.engine_command.radiomics_command builds."""
    reference, mask, lowdose = nodule
    status = main(["radiomics", "--mask", str(mask), "--label", "3", "--image", str(lowdose), "--image", str(reference),
                   "--output-dir", str(tmp_path / "out"), "--no-figure", "--progress", "json"])
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 0 and events[-1]["event"] == "done" and events[-1]["output"].endswith("features.csv")
    assert [e["done"] for e in events if e["event"] == "progress"] == [1, 2]
    header, _ = _read(tmp_path / "out" / "features.csv")
    assert header == ["feature", "lowdose", "reference", "diff reference vs lowdose",
                      "rel diff reference vs lowdose (%)"]


def test_same_file_stems_get_distinct_columns(nodule: tuple[Path, Path, Path], tmp_path: Path) -> None:
    reference, mask, _ = nodule
    other = tmp_path / "elsewhere"
    other.mkdir()
    copy = other / reference.name
    copy.write_bytes(reference.read_bytes())
    header, table = _read(compare_images(mask, [reference, copy], tmp_path, label=3, figure=False))
    assert header[1:3] == ["reference", "reference_2"]
    assert all(float(v[2]) == 0.0 for v in table.values())  # identical images: zero difference
