"""Progress reporting: a text bar for people, JSON lines for programs (the Slicer module; ``events``), or nothing."""

from __future__ import annotations

import math
import sys
import time
from typing import TYPE_CHECKING, TextIO

from .events import emit, event

if TYPE_CHECKING:
    from .noise.estimate import NoiseEstimate


class Progress:
    """No output; the base of the reporters."""

    def update(self, done: int, total: int) -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def noise(self, estimate: "NoiseEstimate") -> None:
        """The input's estimated noise level; people read it as an info line."""
        if math.isfinite(estimate.std_hu):
            self.info(f"estimated noise in soft tissue: {estimate.std_hu:.0f} HU ({estimate.method})")
        else:
            self.info("estimated noise: no flat soft tissue found to measure it in")

    def finished(self, output: str, seconds: float) -> None:
        pass

    def failed(self, message: str) -> None:
        pass


class JsonProgress(Progress):
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def update(self, done: int, total: int) -> None:
        emit(event("progress", done=done, total=total), self.stream)

    def info(self, message: str) -> None:
        emit(event("info", message=message), self.stream)

    def noise(self, estimate: "NoiseEstimate") -> None:
        emit(estimate.event(), self.stream)

    def finished(self, output: str, seconds: float) -> None:
        emit(event("done", output=output, seconds=round(seconds, 3)), self.stream)

    def failed(self, message: str) -> None:
        emit(event("error", message=message), self.stream)


class BarProgress(Progress):
    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.perf_counter()

    def update(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        elapsed = time.perf_counter() - self.started
        left = elapsed / fraction - elapsed if fraction > 0 else float("nan")
        bar = "#" * int(fraction * self.width)
        self.stream.write(f"\r[{bar:<{self.width}}] {done}/{total} {fraction:4.0%}  {left:5.0f} s left")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()

    def info(self, message: str) -> None:
        self.stream.write(message + "\n")
        self.stream.flush()

    def finished(self, output: str, seconds: float) -> None:
        self.stream.write(f"Wrote {output} in {seconds:.1f} s\n")
        self.stream.flush()


def make_progress(kind: str) -> Progress:
    return {"json": JsonProgress, "bar": BarProgress, "none": Progress}[kind]()
