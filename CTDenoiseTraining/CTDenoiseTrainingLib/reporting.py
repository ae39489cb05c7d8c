"""What a run tells its user: a progress line with loss and throughput, metrics.csv, and TensorBoard events
when the ``tensorboard`` package is installed (optional extra ``ctdenoise[training]``)."""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path
from typing import Callable, TextIO

from CTDenoiseLib.io.atomic import atomic_write


class ProgressBar:
    """One updating line on a terminal; on a pipe or log file, a plain line every ``every`` steps."""

    def __init__(self, total: int, start: int, stream: TextIO | None = None, every: int = 0) -> None:
        self.total, self.stream = total, stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every or max(1, (total - start) // 20)
        self.started, self.start = time.perf_counter(), start

    def update(self, step: int, loss: float, voxels_per_second: float) -> None:
        """Redraw the line (on a pipe: print every ``every`` steps).

        Args:
            step: the step done.
            loss: the mean loss since the last validation.
            voxels_per_second: this rank's throughput since then.
        """
        if not self.tty and step % self.every and step != self.total:
            return
        done = step / self.total
        elapsed = time.perf_counter() - self.started
        eta = elapsed / max(1, step - self.start) * (self.total - step)
        bar = "#" * int(28 * done) + "-" * (28 - int(28 * done))
        text = (f"[{bar}] step {step}/{self.total} loss {loss:.4g} {voxels_per_second / 1e6:.2f} Mvox/s/rank "
                f"eta {eta / 60:.1f} min")
        self.stream.write(("\r" + text + ("\n" if step == self.total else "")) if self.tty else text + "\n")
        self.stream.flush()

    def newline(self) -> None:
        """End the updating line before a log line (terminal only)."""
        if self.tty:
            self.stream.write("\n")


def write_csv(path: Path, rows: list[dict]) -> None:
    """Rewrite ``metrics.csv`` from the history (so a resumed run continues it without duplicates)."""
    if not rows:
        return
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    with atomic_write(path) as partial, open(partial, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


class TensorBoard:
    def __init__(self, mode: str, folder: Path, log: Callable[[str], None]) -> None:
        self.writer = None
        if mode == "off":
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            if mode == "on":
                raise ValueError("tensorboard=on but the tensorboard package is not installed: "
                                 "pip install 'ctdenoise[training]' or set tensorboard to auto/off") from error
            log("TensorBoard logging off: the tensorboard package is not installed (metrics.csv has everything)")
            return
        self.writer = SummaryWriter(str(folder))

    def scalars(self, step: int, values: dict) -> None:
        """Log every number of a history row.

        Args:
            step: the row's step.
            values: the row.
        """
        if self.writer is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and key != "step":
                    self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        """Flush and close the event file."""
        if self.writer is not None:
            self.writer.close()
