"""Several background commands run one after another (pip, then light-the-torch, then torch), with one result.

Plain Python, built on ProcessRunner: each step starts when the one before succeeded; the first failure or a
cancel ends the sequence. ``on_finished`` is called exactly once, whatever happens, even when starting a step
raises, so that a caller waiting on it (the Install button) is never left disabled.
"""

from __future__ import annotations

import shutil
import time
from typing import Callable, Sequence

from .process_runner import ProcessRunner, RunResult, RunState, wait_for

RunnerFactory = Callable[..., ProcessRunner]  # (args, on_finished=...) -> a ProcessRunner not yet started


class CommandSequence:
    def __init__(self, commands: Sequence[Sequence[str]], make_runner: RunnerFactory,
                 on_finished: Callable[[RunResult], None] | None = None, temp_dir: str | None = None) -> None:
        """Args:
            commands: the command lines, in order.
            make_runner: builds a ProcessRunner for one command (the logic's, with its timer and environment).
            on_finished: called once with the combined result.
            temp_dir: removed when the sequence ends (the pip constraints file lives there).
        """
        self.commands = [list(command) for command in commands]
        self._make_runner, self._on_finished, self.temp_dir = make_runner, on_finished, temp_dir
        self._results: list[RunResult] = []
        self._current: ProcessRunner | None = None
        self._cancelled = False
        self._started = 0.0
        self.state = RunState.IDLE
        self.result: RunResult | None = None

    def start(self) -> "CommandSequence":
        if self.state is not RunState.IDLE:
            raise RuntimeError("A CommandSequence runs once; make a new one.")
        self.state, self._started = RunState.RUNNING, time.monotonic()
        self._next()
        return self

    def _next(self) -> None:
        index = len(self._results)
        if index == len(self.commands):
            self._finish()
            return
        try:
            self._current = self._make_runner(self.commands[index], on_finished=self._step_finished)
            self._current.start()
        except Exception as error:  # never leave the caller waiting
            self._results.append(RunResult(RunState.FAILED, None, f"could not start step {index + 1}: {error}",
                                           f"[could not start: {error}]", 0.0, None))
            self._finish()

    def _step_finished(self, result: RunResult) -> None:
        self._results.append(result)
        if result.state is RunState.SUCCEEDED and not self._cancelled:
            self._next()
        else:
            self._finish()

    def cancel(self) -> None:
        """Stop the running step; the later ones never start."""
        if self.state is not RunState.RUNNING:
            return
        self._cancelled = True
        if self._current is not None:
            self._current.cancel()

    def poll(self) -> bool:
        if self._current is not None and not self.state.finished:
            self._current.poll()
        return self.state.finished

    def wait(self, timeout: float | None = None, idle: Callable[[], None] | None = None) -> RunResult:
        """Block until the sequence ends (scripts and tests); cancels it after ``timeout`` seconds."""
        return wait_for(self, timeout, idle)

    def _finish(self) -> None:
        if self.state.finished:
            return
        last = self._results[-1] if self._results else None
        if self._cancelled:
            state, error = RunState.CANCELLED, "cancelled by the user."
        elif last is None or last.state is RunState.SUCCEEDED:
            state, error = RunState.SUCCEEDED, ""
        else:
            state, error = last.state, last.error
        log = "\n".join(result.log for result in self._results)
        self.state = state
        self.result = RunResult(state, last.return_code if last else 0, error, log,
                                time.monotonic() - self._started, None, "\n".join(r.stdout for r in self._results))
        try:
            if self._on_finished:
                self._on_finished(self.result)
        finally:
            if self.temp_dir:
                shutil.rmtree(self.temp_dir, ignore_errors=True)
