"""Parsing the engine's JSON progress lines and the percent / time-left estimate."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "CTDenoise"))

from CTDenoiseSlicerLib.engine_errors import extract_error_line  # noqa: E402
from CTDenoiseSlicerLib.progress import ProgressTracker, RunStatus, engine_path, format_duration, parse_event  # noqa: E402


def test_parse_event_accepts_protocol_lines_and_ignores_everything_else() -> None:
    assert parse_event('{"event":"progress","done":3,"total":8}').data == {"event": "progress", "done": 3, "total": 8}
    assert parse_event('{"event":"done","output":"/t/o.nrrd","seconds":1.5}').kind == "done"
    assert parse_event('{"event":"error","message":"bad input"}').message == "bad input"
    for line in ("Loading model", "{not json", '{"event":"unknown"}', '{"event":"progress","done":"x","total":2}',
                 "[1, 2]", ""):
        assert parse_event(line) is None


def test_tracker_measures_rate_from_the_first_progress_event() -> None:
    times = iter([100.0, 110.0, 120.0, 130.0])
    tracker = ProgressTracker(clock=lambda: next(times))
    first = tracker.update(0, 4)
    assert (first.percent, first.seconds_left) == (0, None)
    assert tracker.update(1, 4).seconds_left == pytest.approx(30.0)  # 10 s per tile, 3 to go
    snapshot = tracker.update(2, 4)
    assert snapshot.percent == 50 and snapshot.seconds_left == pytest.approx(20.0)
    assert snapshot.text == "50 %, about 20 s left"
    assert tracker.update(9, 4).percent == 100  # clamped


def test_a_new_stage_of_progress_gets_its_own_rate() -> None:
    # --adapt reports its steps, then the tiles: the tiles' time left must not come from the steps' rate
    times = iter([0.0, 100.0, 200.0, 201.0, 202.0])
    tracker = ProgressTracker(clock=lambda: next(times))
    tracker.update(0, 300)
    assert tracker.update(150, 300).seconds_left == pytest.approx(100.0)
    assert tracker.update(0, 10).seconds_left is None and tracker.update(1, 10).seconds_left == pytest.approx(9.0)
    assert tracker.update(2, 10).percent == 20


def test_the_status_line_says_when_the_network_is_being_adapted() -> None:
    status = RunStatus()
    status.update(parse_event('{"event":"engine","precision":"fp32","device":"cpu","backend":"openvino",'
                              '"adapt_steps":300}'))
    assert status.text.startswith("Adapting the network to this scan; ")
    status.update(parse_event('{"event":"adapted","steps":300,"kernel":"hann","seconds":150.2}'))
    assert not status.text.startswith("Adapting")


def test_format_duration() -> None:
    assert [format_duration(s) for s in (4.4, 75, 3725)] == ["4 s", "1 min 15 s", "1 h 02 min"]


def test_error_line_prefers_the_engines_line() -> None:
    stderr = ["Traceback", "ctdenoise: error: no CT found. Load a CT.", "some later noise"]
    assert extract_error_line(stderr, ["json message"], 1) == "no CT found. Load a CT."
    assert extract_error_line(["warning"], ["json message"], 1) == "json message"
    assert extract_error_line(["", "MemoryError: x", ""], [], 1) == "MemoryError: x"
    assert "code 3" in extract_error_line([], [], 3)


def test_noise_event_and_what_the_engine_chose_reach_the_status_line() -> None:
    noise = parse_event('{"event":"noise","std_hu":72.6,"method":"MAD of the high-pass residual"}')
    assert noise.kind == "noise" and noise.data["std_hu"] == 72.6
    assert parse_event('{"event":"noise","std_hu":"loud"}') is None
    engine = parse_event('{"event":"engine","model":"stresnet","precision":"int8","device":"cpu",'
                         '"backend":"openvino","self_ensemble":false,"strength":1.0}')
    assert engine_path(engine) == ("int8", "cpu", "openvino")
    assert engine_path(parse_event('{"event":"engine","precision":"fp16"}')) is None
    assert engine_path(parse_event('{"event":"info","message":"running stresnet INT8 on CPU via OpenVINO"}')) is None
    status = RunStatus()
    assert status.text.startswith("Starting the engine")
    status.update(parse_event('{"event":"info","message":"precision auto: INT8 on the CPU (VNNI)"}'))
    status.update(parse_event('{"event":"info","message":"running stresnet INT8 on CPU via OpenVINO"}'))
    assert status.path is None  # words are for people; the status line reads the event
    status.update(engine)
    status.update(noise)
    status.snapshot = ProgressTracker(clock=iter([0.0]).__next__).update(1, 4)
    assert status.path == ("int8", "cpu", "openvino")
    assert status.text == ("25 %; running INT8 on the CPU (OpenVINO); "
                           "input noise about 73 HU, MAD of the high-pass residual")
    status.update(parse_event('{"event":"noise","std_hu":52.0,"method":"per slice","map_hu":[38.4,71.6]}'))
    assert status.text.endswith("input noise about 52 HU (38-72 HU slice by slice), per slice")


def test_the_engines_own_event_is_understood_when_importable() -> None:
    pipeline = pytest.importorskip("CTDenoiseLib.inference.pipeline", reason="engine or torch not importable here")
    backends = pytest.importorskip("CTDenoiseLib.runtime.backends", reason="engine or torch not importable here")
    from types import SimpleNamespace

    from CTDenoiseLib.progress import JsonProgress

    for precision, device, engine in (("int8", "cpu", "openvino"), ("fp16", "cuda", "torch"), ("fp32", "cpu", "torch")):
        running = pipeline.Engine(SimpleNamespace(name="stresnet"), lambda tile: tile,  # type: ignore[arg-type]
                                  backends.Choice(precision, device), engine)
        stream = io.StringIO()
        JsonProgress(stream).running(running.description, running.event())
        status = RunStatus()
        for line in stream.getvalue().splitlines():
            status.update(parse_event(line))
        assert status.path == (precision, device, engine), stream.getvalue()
