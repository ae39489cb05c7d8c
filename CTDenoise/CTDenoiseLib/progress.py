"""Progress reporting: a text bar for people, JSON lines for programs (the Slicer module; ``events``), or nothing."""

from __future__ import annotations

import math
import sys
import time
from typing import TYPE_CHECKING, TextIO

from .events import emit, event
from .vocabulary import ProgressFormat

if TYPE_CHECKING:
    from .noise.estimate import NoiseEstimate


class Progress:
    """No output; the base of the reporters."""

    def update(self, done: int, total: int) -> None:
        """Tiles done so far.

        Args:
            done: tiles done.
            total: tiles in all.
        """

    def info(self, message: str) -> None:
        """A line for the user.

        Args:
            message: what to say.
        """

    def running(self, description: str, engine: dict) -> None:
        """What runs, once the model is loaded; people read it as an info line (``running ...``).

        Args:
            description: what runs, in words.
            engine: the same as an ``engine`` event (``inference.pipeline.Engine.event``).
        """
        self.info(f"running {description}")

    def noise(self, estimate: "NoiseEstimate") -> None:
        """The input's estimated noise level; people read it as an info line.

        Args:
            estimate: the input's noise estimate.
        """
        if math.isfinite(estimate.std_hu):
            self.info(f"estimated noise in soft tissue: {estimate.std_hu:.0f} HU ({estimate.method})")
        else:
            self.info("estimated noise: no flat soft tissue found to measure it in")

    def adapted(self, summary: str, adapted: dict) -> None:
        """A network was adapted to the scan (``--adapt``); people read it as an info line.

        Args:
            summary: what the adaptation did, in words.
            adapted: the same as an ``adapted`` event (``inference.adaptation.AdaptationReport.event``).
        """
        self.info(summary)

    def finished(self, output: str, seconds: float) -> None:
        """The output is written.

        Args:
            output: its path.
            seconds: the whole run's seconds.
        """

    def failed(self, message: str) -> None:
        """The run failed.

        Args:
            message: the one line saying why.
        """


class JsonProgress(Progress):
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def update(self, done: int, total: int) -> None:
        """A ``progress`` event.

        Args:
            done: tiles done.
            total: tiles in all.
        """
        emit(event("progress", done=done, total=total), self.stream)

    def info(self, message: str) -> None:
        """An ``info`` event.

        Args:
            message: what to say.
        """
        emit(event("info", message=message), self.stream)

    def running(self, description: str, engine: dict) -> None:
        """The info line for the log, then the ``engine`` event programs read (the precision and backend that
        run, not parsed from words).

        Args:
            description: what runs, in words.
            engine: the ``engine`` event.
        """
        super().running(description, engine)
        emit(engine, self.stream)

    def noise(self, estimate: "NoiseEstimate") -> None:
        """A ``noise`` event.

        Args:
            estimate: the input's noise estimate.
        """
        emit(estimate.event(), self.stream)

    def adapted(self, summary: str, adapted: dict) -> None:
        """The info line for the log, then the ``adapted`` event.

        Args:
            summary: what the adaptation did, in words.
            adapted: the ``adapted`` event.
        """
        super().adapted(summary, adapted)
        emit(adapted, self.stream)

    def finished(self, output: str, seconds: float) -> None:
        """A ``done`` event.

        Args:
            output: the output's path.
            seconds: the whole run's seconds (to the millisecond).
        """
        emit(event("done", output=output, seconds=round(seconds, 3)), self.stream)

    def failed(self, message: str) -> None:
        """An ``error`` event.

        Args:
            message: the one line saying why.
        """
        emit(event("error", message=message), self.stream)


class BarProgress(Progress):
    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.perf_counter()

    def update(self, done: int, total: int) -> None:
        """Redraw the bar with the time left.

        Args:
            done: tiles done.
            total: tiles in all.
        """
        fraction = done / total if total else 1.0
        elapsed = time.perf_counter() - self.started
        left = elapsed / fraction - elapsed if fraction > 0 else float("nan")
        bar = "#" * int(fraction * self.width)
        self.stream.write(f"\r[{bar:<{self.width}}] {done}/{total} {fraction:4.0%}  {left:5.0f} s left")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()

    def info(self, message: str) -> None:
        """The message on a line of its own.

        Args:
            message: what to say.
        """
        self.stream.write(message + "\n")
        self.stream.flush()

    def finished(self, output: str, seconds: float) -> None:
        """``Wrote OUTPUT in S s``.

        Args:
            output: the output's path.
            seconds: the whole run's seconds.
        """
        self.stream.write(f"Wrote {output} in {seconds:.1f} s\n")
        self.stream.flush()


def make_progress(kind: str) -> Progress:
    """The reporter of a ``--progress`` value.

    Args:
        kind: a ``vocabulary.ProgressFormat`` value.
    """
    return {ProgressFormat.JSON: JsonProgress, ProgressFormat.BAR: BarProgress, ProgressFormat.NONE: Progress}[kind]()
