"""The time a run should take, shown before the user clicks Denoise.

An estimate from measurements, not a promise: the voxels per second of each model, precision and engine come
from ``measured_speed.json`` (the benchmark's full-size rows in docs/performance.md, measured on 2 CPU cores), and
the selected volume's voxel count. A computer with more cores is usually faster; a GPU has no measured row yet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .device_options import ExecutionPath
from .model_catalog import TITLES
from .progress import format_duration

TABLE = Path(__file__).with_name("measured_speed.json")
SELF_ENSEMBLE_FACTOR = 8  # every tile in its 8 mirror images


@dataclass(frozen=True)
class SpeedTable:
    voxels_per_second: dict[tuple[str, str, str, str], float]  # (model, precision, engine, device) -> voxels/s
    machine: str
    same_network: dict[str, str] = field(default_factory=dict)  # model -> the measured model it has the network of
    adaptation_seconds: float | None = None  # adapting a network to one scan (--adapt), measured on the CPU

    def measured_model(self, model: str) -> str:
        """The model whose rows stand for ``model`` (itself, or the measured one with the same network)."""
        return self.same_network.get(model, model)

    @classmethod
    def load(cls, path: Path = TABLE) -> "SpeedTable":
        """Args:
            path: the JSON table (rows with model, precision, engine, device, seconds, voxels).
        """
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        rates = {(row["model"], row["precision"], row["engine"], row["device"]): row["voxels"] / row["seconds"]
                 for row in data["rows"]}
        return cls(rates, data["machine"], dict(data.get("same_network", {})), data.get("adaptation_seconds"))


def expected_seconds(table: SpeedTable, model: str, path: ExecutionPath, voxels: int,
                     self_ensemble: bool = False) -> float | None:
    """Seconds of denoising for ``voxels`` voxels, or None when nothing was measured for this path.

    Args:
        table: the measured speeds.
        model: registered model name.
        path: the precision, device and engine that will run.
        voxels: the volume's voxel count.
        self_ensemble: 8 passes per tile.
    """
    rate = table.voxels_per_second.get((table.measured_model(model), path.precision, path.engine, path.device))
    if rate is None or voxels <= 0:
        return None
    return voxels / rate * (SELF_ENSEMBLE_FACTOR if self_ensemble else 1)


def expected_time_text(table: SpeedTable, model: str, path: ExecutionPath, voxels: int,
                       self_ensemble: bool = False, adapt: bool = False) -> str:
    """One line for the panel, e.g. ``Expected: about 24 s (STResNet INT8 on the CPU (OpenVINO)); ...``.

    Args:
        table: the measured speeds.
        model: registered model name.
        path: the precision, device and engine that will run.
        voxels: the volume's voxel count.
        self_ensemble: 8 passes per tile.
        adapt: the network is first adapted to the scan (a fixed number of steps, whatever its size).
    """
    title = TITLES.get(model, model)
    seconds = expected_seconds(table, model, path, voxels, self_ensemble)
    if seconds is None:
        return f"Expected time: not measured for {title} {path.describe()}."
    measured = table.measured_model(model)
    proxy = f", measured with {TITLES.get(measured, measured)}, the same network," if measured != model else ""
    adapting = (f", plus about {format_duration(table.adaptation_seconds)} to adapt it to this scan first"
                if adapt and table.adaptation_seconds else "")
    return (f"Expected: about {format_duration(seconds)} for {voxels / 1e6:.1f} M voxels with {title} "
            f"{path.describe()}{adapting}, plus a few seconds to start (estimate from measurements{proxy} on "
            f"{table.machine}).")
