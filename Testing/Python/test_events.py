"""The JSON event protocol: named once in the engine (CTDenoiseLib/events.py), and known to the Slicer reader."""

from __future__ import annotations

import io
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "CTDenoise"))

from CTDenoiseLib import events  # noqa: E402
from CTDenoiseLib.inference.pipeline import FileResult  # noqa: E402
from CTDenoiseLib.noise.estimate import NoiseEstimate  # noqa: E402
from CTDenoiseLib.progress import JsonProgress  # noqa: E402
from CTDenoiseSlicerLib.progress import KNOWN_EVENTS, parse_event  # noqa: E402


def test_the_slicer_reader_knows_every_event_the_denoise_command_prints() -> None:
    assert sorted(KNOWN_EVENTS) == sorted(events.DENOISE_EVENTS)
    for kind in events.DENOISE_EVENTS:
        fields = {"done": 1, "total": 2} if kind == "progress" else {"std_hu": 12.5} if kind == "noise" else {}
        parsed = parse_event(json.dumps(events.event(kind, **fields)))
        assert parsed is not None and parsed.kind == kind


def test_events_are_written_as_one_flushed_json_line_each_and_read_back() -> None:
    stream = io.StringIO()
    progress = JsonProgress(stream)
    progress.update(3, 7)
    progress.info("running")
    progress.noise(NoiseEstimate(float("nan"), 0))
    progress.finished("out.nrrd", 1.23456)
    progress.failed("bad input")
    events.emit(FileResult("in.nrrd", "out.nrrd", "ok", seconds=2.0).event(), stream)
    lines = stream.getvalue().splitlines()
    parsed = [events.parse(line) for line in lines]
    assert [data["event"] for data in parsed] == ["progress", "info", "noise", "done", "error", "file"]
    assert parsed[2]["std_hu"] is None and parsed[3]["seconds"] == 1.235
    assert events.parse("plain text") is None and events.parse('{"event": "made-up"}') is None
    assert not math.isnan(parsed[5]["seconds"])


def test_an_unnamed_event_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="events.py"):
        events.event("made-up", value=1)
    with pytest.raises(ValueError, match="events.py"):
        events.emit({"event": "made-up"}, io.StringIO())
