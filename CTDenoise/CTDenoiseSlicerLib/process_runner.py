"""Run the engine as a separate process without blocking the GUI: read its JSON progress, cancel it with all
its children, and report the engine's own error line.

Plain Python. The GUI passes a ``schedule(milliseconds, callback)`` function (``qt.QTimer.singleShot`` in
Slicer); ``wait()`` gives scripts and tests a blocking mode without any timer. Two threads read stdout and
stderr into a queue; every callback runs on the thread that calls ``poll()`` (Qt's main thread in Slicer).
"""

from __future__ import annotations

import enum
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from .engine_errors import extract_error_line
from .progress import EngineEvent, ProgressSnapshot, ProgressTracker, parse_event

Schedule = Callable[[int, Callable[[], None]], None]


class RunState(enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)


@dataclass(frozen=True)
class RunResult:
    state: RunState
    return_code: int | None
    error: str  # one line for the user; empty on success
    log: str  # everything the process printed, for "Show log"
    seconds: float
    output: str | None  # the path in the engine's "done" event
    stdout: str = ""  # standard output alone (the JSON answer of 'models --json')


def _start_options() -> dict:
    """A new process group (Windows) or session (POSIX), so that cancel reaches the grandchildren too:
    PythonSlicer is a launcher whose child is the real Python."""
    if os.name == "nt":
        flags = subprocess.CREATE_NEW_PROCESS_GROUP | getattr(subprocess, "CREATE_NO_WINDOW", 0)
        return {"creationflags": flags}
    return {"start_new_session": True}


def kill_process_tree(process: subprocess.Popen) -> None:
    """End the process and everything it started; psutil is not bundled with Slicer."""
    if os.name == "nt":
        subprocess.run(["taskkill", "/T", "/F", "/PID", str(process.pid)], capture_output=True,
                       creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the session leader's pid is the group id
    except (ProcessLookupError, PermissionError):
        pass


class ProcessRunner:
    def __init__(
        self,
        args: Sequence[str],
        schedule: Schedule | None = None,
        on_progress: Callable[[ProgressSnapshot], None] | None = None,
        on_event: Callable[[EngineEvent], None] | None = None,
        on_log: Callable[[str], None] | None = None,
        on_finished: Callable[[RunResult], None] | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        temp_dir: str | None = None,
        keep_temp: bool = False,
        poll_ms: int = 100,
    ) -> None:
        self.args = [str(arg) for arg in args]
        self._schedule = schedule
        self._on_progress, self._on_event, self._on_log, self._on_finished = on_progress, on_event, on_log, on_finished
        self._cwd, self._env = cwd, env
        self.temp_dir, self.keep_temp = temp_dir, keep_temp
        self._poll_ms = poll_ms
        self._queue: queue.Queue = queue.Queue()
        self._process: subprocess.Popen | None = None
        self._log: list[str] = []
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        self._error_events: list[str] = []
        self._output: str | None = None
        self._started = 0.0
        self.tracker = ProgressTracker()
        self.state = RunState.IDLE
        self.result: RunResult | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def is_alive(self) -> bool:
        """The child itself has not exited yet (whatever the runner has polled so far)."""
        return self._process is not None and self._process.poll() is None

    @property
    def log(self) -> str:
        return "\n".join(self._log)

    def start(self) -> "ProcessRunner":
        if self.state is not RunState.IDLE:
            raise RuntimeError("A ProcessRunner runs once; make a new one.")
        self._started = time.monotonic()
        self._log.append("$ " + subprocess.list2cmdline(self.args))
        try:
            self._process = subprocess.Popen(
                self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                text=True, encoding="utf-8", errors="replace", bufsize=1,
                cwd=self._cwd, env=self._env, **_start_options())
        except OSError as error:
            self._stderr.append(f"could not start {self.args[0]}: {error}")
            self.state = RunState.RUNNING
            self._finish(None)
            return self
        self.state = RunState.RUNNING
        readers = [threading.Thread(target=self._read, args=(stream, name), daemon=True)
                   for stream, name in ((self._process.stdout, "out"), (self._process.stderr, "err"))]
        for reader in readers:
            reader.start()
        threading.Thread(target=self._wait_for_exit, args=(readers,), daemon=True).start()
        if self._schedule:
            self._schedule(0, self._poll_and_reschedule)
        return self

    def _read(self, stream, name: str) -> None:
        for line in iter(stream.readline, ""):
            self._queue.put((name, line.rstrip("\r\n")))
        stream.close()

    def _wait_for_exit(self, readers: list[threading.Thread]) -> None:
        return_code = self._process.wait()
        for reader in readers:
            reader.join(timeout=5.0)  # a surviving grandchild could hold the pipe open
        self._queue.put(("exit", return_code))

    def _poll_and_reschedule(self) -> None:
        if not self.poll() and self._schedule:
            self._schedule(self._poll_ms, self._poll_and_reschedule)

    def poll(self) -> bool:
        """Handle what the process printed since the last call; True once the run is finished."""
        while not self.state.finished:
            try:
                kind, payload = self._queue.get_nowait()
            except queue.Empty:
                break
            if kind == "exit":
                self._finish(payload)
            else:
                self._handle_line(kind, payload)
        return self.state.finished

    def _handle_line(self, stream: str, line: str) -> None:
        self._log.append(line)
        if self._on_log:
            self._on_log(line)
        if stream == "err":
            self._stderr.append(line)
            return
        self._stdout.append(line)
        event = parse_event(line)
        if event is None:
            return
        if event.kind == "progress":
            snapshot = self.tracker.update(event.data["done"], event.data["total"])
            if self._on_progress:
                self._on_progress(snapshot)
        elif event.kind == "error":
            self._error_events.append(event.message)
        elif event.kind == "done":
            self._output = str(event.data.get("output", "")) or None
        if self._on_event:
            self._on_event(event)

    def cancel(self) -> None:
        """Kill the process tree; the run then finishes as CANCELLED and removes its temporary folder."""
        if self.state is not RunState.RUNNING:
            return
        self.state = RunState.CANCELLING
        if self._process is not None:
            kill_process_tree(self._process)

    def wait(self, timeout: float | None = None, idle: Callable[[], None] | None = None) -> RunResult:
        """Block until the run ends (scripts, tests, the self-test); cancels it after ``timeout`` seconds.
        ``idle`` runs between polls (``slicer.app.processEvents`` keeps Slicer's window painted)."""
        return wait_for(self, timeout, idle)

    def _finish(self, return_code: int | None) -> None:
        if self._process is not None and os.name != "nt":
            kill_process_tree(self._process)  # no orphan may outlive the run, even on success
        if self.state is RunState.CANCELLING:
            state, error = RunState.CANCELLED, "cancelled by the user."
        elif return_code == 0:
            state, error = RunState.SUCCEEDED, ""
        else:
            state = RunState.FAILED
            error = extract_error_line(self._stderr, self._error_events, return_code)
        if state is not RunState.SUCCEEDED:
            self._log.append(f"[{state.value}: {error}]")
        self.state = state
        self.result = RunResult(state, return_code, error, self.log, time.monotonic() - self._started, self._output,
                                "\n".join(self._stdout))
        try:
            if self._on_finished:
                self._on_finished(self.result)
        finally:
            # after the callback: on success it reads the output from the temporary folder
            if self.temp_dir and (state is RunState.CANCELLED or not self.keep_temp):
                shutil.rmtree(self.temp_dir, ignore_errors=True)


def wait_for(job, timeout: float | None = None, idle: Callable[[], None] | None = None) -> RunResult:
    """Poll ``job`` (a runner or a sequence of runs) until it ends, cancelling it after ``timeout`` seconds.

    Args:
        job: anything with ``poll() -> bool``, ``cancel()`` and ``result``.
        timeout: seconds before it is cancelled (None: never).
        idle: called between polls (``slicer.app.processEvents`` keeps Slicer's window painted).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while not job.poll():
        if deadline is not None and time.monotonic() > deadline:
            job.cancel()
            deadline = None
        if idle:
            idle()
        time.sleep(0.02)
    return job.result
