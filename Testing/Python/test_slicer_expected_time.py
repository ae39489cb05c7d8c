"""The expected time shown before Denoise: from the measured voxels per second (measured_speed.json, the
benchmark's full-size rows) and the volume's size."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "CTDenoise"))

from CTDenoiseSlicerLib.device_options import ExecutionPath  # noqa: E402
from CTDenoiseSlicerLib.expected_time import SpeedTable, expected_seconds, expected_time_text  # noqa: E402
from CTDenoiseSlicerLib.progress import format_duration  # noqa: E402

FULL = 512 * 512 * 300


def test_the_measured_rows_give_back_the_measured_times() -> None:
    table = SpeedTable.load()
    int8 = ExecutionPath("int8", "cpu", "openvino")
    assert expected_seconds(table, "stresnet", int8, FULL) == pytest.approx(24.4)
    assert expected_seconds(table, "srresnet", ExecutionPath("fp32", "cpu", "torch"), FULL) == pytest.approx(222.0)
    assert expected_seconds(table, "stresnet", int8, FULL // 2) == pytest.approx(24.4 / 2)
    assert expected_seconds(table, "stresnet", int8, FULL, self_ensemble=True) == pytest.approx(8 * 24.4)
    assert expected_seconds(table, "stresnet", ExecutionPath("fp16", "cuda", "torch"), FULL) is None
    assert expected_seconds(table, "my-site-model", int8, FULL) is None


def test_the_table_matches_docs_performance() -> None:
    text = (REPO / "docs/performance.md").read_text(encoding="utf-8")
    table = SpeedTable.load()
    for (model, precision, engine, device), rate in table.voxels_per_second.items():
        seconds = FULL / rate
        assert f"| {seconds:.1f} |" in text or f"**{seconds:.1f}**" in text, (model, precision, engine)


def test_the_line_says_it_is_an_estimate_from_measurements() -> None:
    table = SpeedTable.load()
    text = expected_time_text(table, "stresnet", ExecutionPath("int8", "cpu", "openvino"), FULL)
    assert text.startswith("Expected: about 24 s") and "STResNet INT8 on the CPU (OpenVINO)" in text
    assert "estimate from measurements on 2 cores" in text
    gpu = expected_time_text(table, "stresnet", ExecutionPath("fp16", "cuda", "torch"), FULL)
    assert "not measured" in gpu


def test_adapting_adds_the_measured_adaptation_time() -> None:
    table = SpeedTable.load()
    fp32 = ExecutionPath("fp32", "cpu", "openvino")
    assert table.adaptation_seconds and 60 < table.adaptation_seconds < 600
    text = expected_time_text(table, "stunet", fp32, FULL, adapt=True)
    assert f"plus about {format_duration(table.adaptation_seconds)} to adapt it to this scan first" in text
    assert "to adapt" not in expected_time_text(table, "stunet", fp32, FULL)


def test_a_model_with_a_measured_models_network_takes_its_rows_and_says_so() -> None:
    table = SpeedTable.load()
    int8 = ExecutionPath("int8", "cpu", "openvino")
    assert expected_seconds(table, "stresnet-am", int8, FULL) == pytest.approx(24.4)
    text = expected_time_text(table, "stresnet-am", int8, FULL)
    assert text.startswith("Expected: about 24 s") and "measured with STResNet, the same network" in text
