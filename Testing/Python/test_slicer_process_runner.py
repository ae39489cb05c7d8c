"""The process runner against real subprocesses: a fake engine written here (always) and the real
``python -m CTDenoiseLib denoise`` on a few slices of a real chest CT (when ../shared/data is present)."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "CTDenoise"))

from CTDenoiseSlicerLib.process_runner import ProcessRunner, RunState  # noqa: E402

FAKE_ENGINE = textwrap.dedent(
    """
    import json, os, subprocess, sys, time
    mode, pid_file, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    def emit(**event):
        print(json.dumps(event), flush=True)
    if mode == "grandchild":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        with open(pid_file, "w") as f:
            f.write(str(child.pid))
    print("loading model", flush=True)
    for done in range(1, steps + 1):
        time.sleep(0.05)
        emit(event="progress", done=done, total=steps)
        if mode == "fail" and done == 2:
            emit(event="error", message="input is not a CT: values look like MR.")
            print("Traceback (most recent call last):", file=sys.stderr)
            print("ctdenoise: error: input is not a CT: values look like MR. Load a CT volume.", file=sys.stderr,
                  flush=True)
            sys.exit(1)
        if mode == "crash" and done == 1:
            print("ModuleNotFoundError: No module named 'torch'", file=sys.stderr, flush=True)
            sys.exit(1)
    if mode == "grandchild":
        time.sleep(60)
    emit(event="done", output="out.nrrd", seconds=0.1)
    """
)


class FakeTimer:
    """Stands in for qt.QTimer.singleShot: callbacks run when due, from run_until."""

    def __init__(self) -> None:
        self.pending: list[tuple[float, object]] = []
        self.calls = 0

    def schedule(self, milliseconds: int, callback) -> None:
        self.calls += 1
        self.pending.append((time.monotonic() + milliseconds / 1000, callback))

    def run_until(self, done, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "timed out"
            due = [item for item in self.pending if item[0] <= time.monotonic()]
            for item in due:
                self.pending.remove(item)
                item[1]()
            time.sleep(0.01)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


@pytest.fixture
def engine(tmp_path: Path) -> Path:
    path = tmp_path / "fake_engine.py"
    path.write_text(FAKE_ENGINE)
    return path


def _args(engine: Path, mode: str, tmp_path: Path, steps: int = 5) -> list[str]:
    return [sys.executable, str(engine), mode, str(tmp_path / "grandchild.pid"), str(steps)]


def test_progress_arrives_in_order_through_the_injected_timer(engine: Path, tmp_path: Path) -> None:
    timer, snapshots, finished, lines = FakeTimer(), [], [], []
    runner = ProcessRunner(_args(engine, "ok", tmp_path), schedule=timer.schedule, on_progress=snapshots.append,
                           on_finished=finished.append, on_log=lines.append)
    runner.start()
    timer.run_until(lambda: finished)
    assert [s.percent for s in snapshots] == [20, 40, 60, 80, 100]
    assert snapshots[0].seconds_left is None and snapshots[-1].seconds_left == pytest.approx(0.0)
    assert snapshots[2].seconds_left > 0
    assert timer.calls > 1  # it polled through the timer, not by blocking
    result = finished[0]
    assert result.state is RunState.SUCCEEDED and result.return_code == 0 and result.error == ""
    assert result.output == "out.nrrd"
    assert "loading model" in lines and "loading model" in result.log
    assert "loading model" in result.stdout and '"event": "done"' in result.stdout


def test_failure_reports_the_engines_error_line_and_keeps_the_log(engine: Path, tmp_path: Path) -> None:
    temp = tmp_path / "work"
    temp.mkdir()
    result = ProcessRunner(_args(engine, "fail", tmp_path), temp_dir=str(temp)).start().wait(timeout=20)
    assert result.state is RunState.FAILED and result.return_code == 1
    assert result.error == "input is not a CT: values look like MR. Load a CT volume."
    assert "Traceback" in result.log
    assert not temp.exists()


def test_a_crash_before_the_engine_reports_gives_the_last_line_and_a_hint(engine: Path, tmp_path: Path) -> None:
    result = ProcessRunner(_args(engine, "crash", tmp_path)).start().wait(timeout=20)
    assert result.state is RunState.FAILED
    assert result.error.startswith("ModuleNotFoundError: No module named 'torch'")
    assert "Install dependencies" in result.error


def test_keep_temp_keeps_the_folder_after_a_failure(engine: Path, tmp_path: Path) -> None:
    temp = tmp_path / "work"
    temp.mkdir()
    ProcessRunner(_args(engine, "fail", tmp_path), temp_dir=str(temp), keep_temp=True).start().wait(timeout=20)
    assert temp.exists()


@pytest.mark.skipif(os.name == "nt", reason="checks process liveness through /proc")
def test_cancel_kills_child_and_grandchild_and_removes_temporary_files(engine: Path, tmp_path: Path) -> None:
    temp = tmp_path / "work"
    temp.mkdir()
    (temp / "input.nrrd").write_bytes(b"x")
    timer, finished = FakeTimer(), []
    pid_file = tmp_path / "grandchild.pid"
    runner = ProcessRunner(_args(engine, "grandchild", tmp_path, steps=3), schedule=timer.schedule,
                           on_finished=finished.append, temp_dir=str(temp), keep_temp=True)
    runner.start()
    timer.run_until(lambda: pid_file.exists() and pid_file.read_text())
    grandchild = int(pid_file.read_text())
    assert _pid_alive(runner.pid) and _pid_alive(grandchild) and runner.is_alive()
    started = time.monotonic()
    runner.cancel()
    timer.run_until(lambda: finished, timeout=10)
    assert time.monotonic() - started < 5
    assert finished[0].state is RunState.CANCELLED
    deadline = time.monotonic() + 5
    while _pid_alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pid_alive(runner.pid) and not _pid_alive(grandchild)
    assert not temp.exists()  # removed on cancel even with keep_temp


def test_a_missing_executable_fails_with_a_clear_line(tmp_path: Path) -> None:
    result = ProcessRunner([str(tmp_path / "no-such-python"), "-m", "CTDenoiseLib"]).start().wait(timeout=5)
    assert result.state is RunState.FAILED
    assert "could not start" in result.error


def test_wait_timeout_cancels(engine: Path, tmp_path: Path) -> None:
    result = ProcessRunner(_args(engine, "grandchild", tmp_path, steps=1)).start().wait(timeout=1.0)
    assert result.state is RunState.CANCELLED
