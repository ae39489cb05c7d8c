"""The engine's JSON progress protocol, read line by line, and the percent / time-left shown to the user.

One JSON object per stdout line (see ``CTDenoiseLib/events.py``):
``{"event":"progress","done":k,"total":n}``, ``{"event":"info","message":...}``,
``{"event":"done","output":PATH,"seconds":S}``, ``{"event":"error","message":...}``, the input's estimated
noise, ``{"event":"noise","std_hu":S,"method":M,"grain":G}``, and what runs,
``{"event":"engine","precision":P,"device":D,"backend":B,...}``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable

# Every event `ctdenoise denoise` prints (CTDenoiseLib/events.py DENOISE_EVENTS; a test keeps them equal): the
# Slicer side acts on progress, error and done, and hands every event to its observer.
KNOWN_EVENTS = ("progress", "info", "engine", "noise", "adapted", "done", "error", "file", "batch", "send")


@dataclass(frozen=True)
class EngineEvent:
    kind: str
    data: dict = field(default_factory=dict)

    @property
    def message(self) -> str:
        return str(self.data.get("message", ""))


def parse_event(line: str) -> EngineEvent | None:
    """The event on one stdout line, or None for any other text (which is only logged)."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("event") not in KNOWN_EVENTS:
        return None
    if data["event"] == "progress":
        try:
            data["done"], data["total"] = int(data["done"]), int(data["total"])
        except (KeyError, TypeError, ValueError):
            return None
    if data["event"] == "noise":
        try:
            data["std_hu"] = float(data["std_hu"])
        except (KeyError, TypeError, ValueError):
            return None
    return EngineEvent(data["event"], data)


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass(frozen=True)
class ProgressSnapshot:
    percent: int
    seconds_left: float | None

    @property
    def text(self) -> str:
        if self.seconds_left is None:
            return f"{self.percent} %"
        return f"{self.percent} %, about {format_duration(self.seconds_left)} left"


class ProgressTracker:
    """Turns progress events into percent and an estimate of the time left.

    The rate is measured from the first progress event, not from the start of the process: the engine spends
    its first seconds importing torch and loading the model, which says nothing about the tiles to come.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._first: tuple[float, int] | None = None
        self._total: int | None = None
        self.snapshot = ProgressSnapshot(0, None)

    def update(self, done: int, total: int) -> ProgressSnapshot:
        now = self._clock()
        if total != self._total:  # a new stage (adaptation steps, then tiles): its own rate
            self._first, self._total = None, total
        if total <= 0:
            self.snapshot = ProgressSnapshot(100 if done else 0, None)
            return self.snapshot
        done = min(max(done, 0), total)
        if self._first is None:
            self._first = (now, done)
        first_time, first_done = self._first
        seconds_left = None
        if done > first_done:
            rate = (now - first_time) / (done - first_done)
            seconds_left = rate * (total - done)
        self.snapshot = ProgressSnapshot(int(100 * done / total), seconds_left)
        return self.snapshot


def engine_path(event: EngineEvent) -> tuple[str, str, str] | None:
    """(precision, device, backend) from the engine's ``engine`` event, e.g. ``("int8", "cpu", "openvino")``; None
    for any other event, or one that lacks them.

    Args:
        event: one engine event.
    """
    if event.kind != "engine":
        return None
    path = tuple(event.data.get(key) for key in ("precision", "device", "backend"))
    return path if all(isinstance(part, str) for part in path) else None  # type: ignore[return-value]


class RunStatus:
    """What the status line says during a run: progress, what the engine chose and the input's noise."""

    def __init__(self) -> None:
        self.path: tuple[str, str, str] | None = None
        self.noise_hu: float | None = None
        self.noise_method = ""
        self.noise_map_hu: tuple[float, float] | None = None  # lowest and highest slice the network was told
        self.adapting = False  # the network is being adapted to the scan (--adapt), before the tiles
        self.snapshot: ProgressSnapshot | None = None

    def update(self, event: EngineEvent) -> None:
        """Args:
            event: one engine event (progress events are read by the ProcessRunner's tracker).
        """
        if event.kind == "engine":
            self.path = engine_path(event) or self.path
            self.adapting = bool(event.data.get("adapt_steps"))
        elif event.kind == "adapted":
            self.adapting = False
        elif event.kind == "noise":
            self.noise_hu, self.noise_method = event.data["std_hu"], str(event.data.get("method", ""))
            span = event.data.get("map_hu")
            self.noise_map_hu = (float(span[0]), float(span[1])) if isinstance(span, list) and len(span) == 2 else None

    @property
    def text(self) -> str:
        parts = [self.snapshot.text if self.snapshot else "Starting the engine (loading PyTorch and the model)…"]
        if self.adapting:
            parts.insert(0, "Adapting the network to this scan")
        if self.path:
            precision, device, engine = self.path
            parts.append(f"running {precision.upper()} on the {'GPU' if device == 'cuda' else 'CPU'} "
                         f"({'OpenVINO' if engine == 'openvino' else 'PyTorch'})")
        if self.noise_hu is not None:
            method = f", {self.noise_method}" if self.noise_method else ""
            per_slice = (f" ({self.noise_map_hu[0]:.0f}-{self.noise_map_hu[1]:.0f} HU slice by slice)"
                         if self.noise_map_hu else "")
            parts.append(f"input noise about {self.noise_hu:.0f} HU{per_slice}{method}")
        return "; ".join(parts)

