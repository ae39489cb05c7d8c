"""The run folder every recipe writes: refuse to overwrite a run, ``config.json`` (reusable with ``--config``) and
``run.json`` (the code version, the command, where and how it runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from . import distributed
from .checkpoint import latest_checkpoint
from .config import TrainConfig, code_version

CHECKPOINTS = "checkpoints"


def open_run(run_dir: Path, resume: bool, log: Callable[[str], None]) -> Path | None:
    """The checkpoint a run continues from: the latest one when resuming, None for a new run.

    Args:
        run_dir: the run folder.
        resume: ``--resume`` was given.
        log: where progress lines go.

    Raises:
        ValueError: the folder holds checkpoints and ``resume`` is off (a run is never overwritten).
    """
    checkpoints = Path(run_dir) / CHECKPOINTS
    latest = latest_checkpoint(checkpoints)
    if latest and not resume:
        raise ValueError(f"{run_dir} already holds checkpoints: add --resume to continue that run, "
                         "or choose a new --run-dir")
    if resume and not latest:
        log(f"no checkpoint in {checkpoints}: starting from step 0")
    return latest


def write_run_files(run_dir: Path, config: TrainConfig, command: str, context: distributed.Context, amp: str,
                    resumed_from: Path | None, facts: dict) -> None:
    """Write ``config.json`` and ``run.json`` (rank 0 only).

    Args:
        run_dir: the run folder (created).
        config: the run's configuration.
        command: the command line that started it.
        context: the distributed context.
        amp: the resolved mixed-precision mode.
        resumed_from: the checkpoint the run continues from, or None.
        facts: the recipe's own entries of ``run.json``.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
    (run_dir / "run.json").write_text(json.dumps(
        {"code": code_version(), "command": command, "ranks": context.world, "device": str(context.device),
         "backend": context.backend, "amp": amp, **facts, "resumed_from": str(resumed_from) if resumed_from else None},
        indent=2) + "\n", encoding="utf-8")
