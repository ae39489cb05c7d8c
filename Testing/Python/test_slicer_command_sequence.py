"""Several background commands in a row (the dependency install): each after the one before succeeded, one
result, on_finished exactly once whatever happens, cancel stops the rest, the temporary folder goes."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "CTDenoise"))

from CTDenoiseSlicerLib.command_sequence import CommandSequence  # noqa: E402
from CTDenoiseSlicerLib.process_runner import ProcessRunner, RunState  # noqa: E402


def _step(marker: Path, text: str) -> list[str]:
    return [sys.executable, "-c", f"open({str(marker)!r}, 'a').write({text!r}); print({text!r})"]


def _run(commands, tmp_path: Path, make_runner=ProcessRunner):
    temp = tmp_path / "work"
    temp.mkdir(exist_ok=True)
    finished = []
    sequence = CommandSequence(commands, make_runner, on_finished=finished.append, temp_dir=str(temp)).start()
    result = sequence.wait(timeout=60)
    assert finished == [result] and not temp.exists()
    return result


def test_steps_run_in_order_and_report_once(tmp_path: Path) -> None:
    marker = tmp_path / "order.txt"
    result = _run([_step(marker, "a"), _step(marker, "b")], tmp_path)
    assert result.state is RunState.SUCCEEDED and marker.read_text() == "ab"
    assert "a" in result.stdout and "b" in result.log


def test_a_failing_step_stops_the_rest_and_says_why(tmp_path: Path) -> None:
    marker = tmp_path / "order.txt"
    fail = [sys.executable, "-c", "import sys; print('ctdenoise: error: disk full', file=sys.stderr); sys.exit(2)"]
    result = _run([_step(marker, "a"), fail, _step(marker, "c")], tmp_path)
    assert result.state is RunState.FAILED and result.error == "disk full" and result.return_code == 2
    assert marker.read_text() == "a"


def test_a_step_that_cannot_start_still_reports(tmp_path: Path) -> None:
    def broken(args, on_finished=None):
        raise OSError("no PythonSlicer")

    result = _run([["x"]], tmp_path, make_runner=broken)
    assert result.state is RunState.FAILED and "no PythonSlicer" in result.error
    missing = _run([[str(tmp_path / "no-such-python")]], tmp_path)
    assert missing.state is RunState.FAILED and "could not start" in missing.error


def test_cancel_stops_the_running_step_and_the_later_ones(tmp_path: Path) -> None:
    marker = tmp_path / "order.txt"
    slow = [sys.executable, "-c", "import time; time.sleep(30)"]
    finished = []
    sequence = CommandSequence([slow, _step(marker, "never")], ProcessRunner, on_finished=finished.append).start()
    sequence.cancel()
    result = sequence.wait(timeout=20)
    assert result.state is RunState.CANCELLED and finished == [result] and not marker.exists()


def test_nothing_to_run_succeeds_at_once(tmp_path: Path) -> None:
    assert _run([], tmp_path).state is RunState.SUCCEEDED
