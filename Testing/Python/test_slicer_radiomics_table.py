"""The radiomics panel's comparison table: columns found by image label, relative differences, flags, CSV."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "CTDenoise"))

from CTDenoiseSlicerLib.radiomics_table import compare, relative_difference_percent, write_csv  # noqa: E402


def _write(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_compares_against_the_reference_and_flags_above_threshold(tmp_path: Path) -> None:
    path = _write(tmp_path / "features.csv", [
        ["feature", "lowdose", "denoised", "reference", "relative_difference_denoised"],
        ["original_firstorder_Mean", "-600", "-590", "-595", "0.8"],
        ["original_glcm_Contrast", "30", "12", "10", "20"],
        ["diagnostics_Versions_PyRadiomics", "v3", "v3", "v3", ""],
        ["original_shape_Flatness", "0", "0", "0", "0"]])
    table = compare(path, ["lowdose", "denoised", "reference"], "reference", threshold_percent=10.0)
    assert table.compared == ("lowdose", "denoised")
    assert [row.feature for row in table.rows] == ["original_firstorder_Mean", "original_glcm_Contrast",
                                                   "original_shape_Flatness"]
    mean, contrast, flat = table.rows
    assert mean.relative_differences == pytest.approx((-100 * 5 / 595, 100 * 5 / 595))
    assert mean.flagged == ()
    assert contrast.relative_differences == pytest.approx((200.0, 20.0))
    assert contrast.flagged == ("lowdose", "denoised")
    assert flat.relative_differences == (0.0, 0.0)


def test_without_reference_the_first_image_is_the_reference_and_columns_may_be_positional(tmp_path: Path) -> None:
    path = _write(tmp_path / "features.csv", [["name", "image_1", "image_2"], ["f", "4", "5"], ["g", "0", "1"]])
    table = compare(path, ["lowdose", "denoised"], "lowdose", threshold_percent=30.0)
    assert table.compared == ("denoised",)
    assert table.rows[0].relative_differences == (25.0,) and table.rows[0].flagged == ()
    assert table.rows[1].relative_differences == (None,) and table.rows[1].flagged == ("denoised",)
    out = write_csv(table, tmp_path / "out.csv")
    lines = out.read_text().splitlines()
    assert lines[0] == "feature,lowdose,denoised,relative difference denoised (%),above threshold"
    assert lines[1] == "f,4,5,25.00," and lines[2] == "g,0,1,n/a,denoised"


def test_an_empty_result_is_an_error_not_an_empty_table(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no features"):
        compare(_write(tmp_path / "a.csv", [["feature", "lowdose"]]), ["lowdose"], "lowdose", 10)
    with pytest.raises(ValueError, match="no numeric"):
        compare(_write(tmp_path / "b.csv", [["feature", "lowdose", "denoised"], ["x", "a", "b"]]),
                ["lowdose", "denoised"], "lowdose", 10)
    with pytest.raises(ValueError, match="expected one per image"):
        compare(_write(tmp_path / "c.csv", [["feature", "lowdose"], ["x", "1"]]), ["lowdose", "denoised"],
                "lowdose", 10)


def test_relative_difference() -> None:
    assert relative_difference_percent(-110, -100) == pytest.approx(-10.0)
    assert relative_difference_percent(0, 0) == 0.0 and relative_difference_percent(1, 0) is None
