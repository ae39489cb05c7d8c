"""The one training loop: every recipe (``recipes/protocol.py``) runs in it.

Exact resume: the batches of step s on rank r depend only on (seed, r, s) (see ``patches``), and a checkpoint
holds weights, optimizer moments, scheduler, grad scaler, torch RNG, best metrics, history and the recipe's own
state; so N steps in one go and N/2 + ``--resume`` N/2 give the same weights (same world size, same device and
thread count).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import save_file

from CTDenoiseLib.hu import HUNormalization
from CTDenoiseLib.models.files import LoadedModel

from . import distributed
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig, code_version
from .export import build_card, export_or_save, load_best, study_halo
from .fine_tune import model_to_fine_tune
from .patches import step_loader
from .recipes.collective import check_in_sync
from .recipes.protocol import Recipe
from .reporting import ProgressBar, TensorBoard, write_csv
from .resume import check_resumable
from .run_folder import CHECKPOINTS, open_run, write_run_files
from .running_loss import RunningLoss
from .validation import validate

BEST = "best.safetensors"


@dataclass
class Record:
    """What the validations said so far.

    Attributes:
        best: the best validation's metrics and step (``psnr_db`` -inf before the first).
        history: one row per validation.
        since_best: validations since the best one.
        initialised_from: the ``--init-from`` model's provenance, or None.
    """

    best: dict = field(default_factory=lambda: {"psnr_db": -np.inf})
    history: list[dict] = field(default_factory=list)
    since_best: int = 0
    initialised_from: dict | None = None


def save_weights(module: torch.nn.Module, path: Path) -> None:
    """A network's weights as safetensors (on the CPU, contiguous).

    Args:
        module: the network.
        path: the file.
    """
    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(path))


class TrainingLoop:
    """One run of a recipe: the run folder, data, networks, exact resume, steps, validations, checkpoints and the
    export.

    Args:
        recipe: what is trained and how (``recipes.dispatch.make_recipe``).
        config: the run's configuration.
        context: the distributed context.
        log: where progress lines go (rank 0's; the others' are dropped by the caller).
        amp: the resolved mixed-precision mode.
        started: ``time.perf_counter()`` when the run began (its reported seconds count from there).
    """

    def __init__(self, recipe: Recipe, config: TrainConfig, context: distributed.Context,
                 log: Callable[[str], None], amp: str, started: float) -> None:
        self.recipe, self.config, self.context, self.log, self.amp = recipe, config, context, log, amp
        self.started = started
        self.run_dir = Path(config.run_dir)
        self.normalization = HUNormalization()
        self.record = Record()
        self.running = RunningLoss()
        self.start = 0  # the step the run continues after
        self.train_seconds = 0.0  # spent in steps since the last validation
        self.source: LoadedModel | None = None  # the --init-from model of a new run

    def run(self, command: str, resume: bool, stop_after: int | None) -> dict:
        """Train (or continue) the run, then export its best weights.

        Args:
            command: the command line, recorded in ``run.json`` and the card.
            resume: continue from the run folder's latest checkpoint (``--resume``).
            stop_after: checkpoint after this step and return without exporting (``--stop-after``).

        Returns:
            ``stopped_at`` when paused; else the best validation, the last step, seconds, amp, ranks, why it
            stopped early (None) and, on rank 0, the halo and what was exported.
        """
        latest = self._open(command, resume)
        batches = self._build(latest)
        step, stop_reason, paused = self._steps(batches, stop_after)
        if stop_reason:
            self.log(f"stopped at step {step}: {stop_reason}; the best weights so far are exported")
        if paused:
            self.log(f"stopped after step {step} as asked; continue with --resume")
            return {"stopped_at": step, "seconds": self._seconds(), "ranks": self.context.world}
        result: dict = {"best": self.record.best, "last_step": step, "seconds": self._seconds(), "amp": self.amp,
                        "ranks": self.context.world, "stopped": stop_reason or None}
        if self.context.main:
            result.update(self._export(command, step, stop_reason, result["seconds"]))
        distributed.barrier(self.context)
        return result

    def _seconds(self) -> float:
        return round(time.perf_counter() - self.started, 1)

    def _open(self, command: str, resume: bool) -> Path | None:
        """Refuse to overwrite a run, choose and prepare the data, write the run files; returns the checkpoint
        to continue from."""
        latest = open_run(self.run_dir, resume, self.log)
        self.source = model_to_fine_tune(self.config, self.normalization) if self.config.init_from and not latest \
            else None  # fails before data preparation
        self.recipe.cases(self.run_dir, saved=bool(latest))
        if self.context.main:
            write_run_files(self.run_dir, self.config, command, self.context, self.amp, latest,
                            {"recipe": self.config.recipe})
        ready = self.recipe.prepare(self.run_dir, self.context, self.log)
        self.log(f"data ready in {time.perf_counter() - self.started:.0f} s: {ready}; {self.context.world} rank(s) "
                 f"on {self.context.device}, amp {self.amp}")
        return latest

    def _build(self, latest: Path | None) -> torch.utils.data.DataLoader:
        """The networks, their optimiser, the checkpoint's state when resuming, and the step batches."""
        self.record.initialised_from = self.recipe.build(self.context, self.source)
        state = self._resume(latest) if latest else None
        dataset = self.recipe.start(self.context, bool(latest), self.log)
        if state is not None:
            self.running = self.recipe.restore(state)
        return step_loader(dataset, self.start, self.config.steps, self.config.workers, self.context.world,
                           self.context.device)

    def _resume(self, latest: Path) -> dict:
        """Load the checkpoint's weights, optimiser, RNG, schedule, scaler and record; returns its state."""
        optimisation = self.recipe.optimisation
        restored = load_checkpoint(latest, self.recipe.module, optimisation.optimizer)
        state = restored.state
        check_resumable(state, self.config, self.context.world, self.log)
        optimisation.schedule.load_state_dict(state["scheduler"])
        if state["config"]["steps"] != self.config.steps:
            self.log(f"steps changed from {state['config']['steps']} to {self.config.steps}: the cosine schedule is "
                     "stretched to the new length (not what an uninterrupted run would have done)")
            optimisation.stretch(self.config.steps)
        if state["scaler"]:
            optimisation.scaler.load_state_dict(state["scaler"])
        self.record = Record(state["best"], state["history"], state["since_best"], state.get("initialised_from"))
        self.start = restored.step
        self.log(f"resumed from {latest} at step {self.start}")
        return state

    def _steps(self, batches: torch.utils.data.DataLoader, stop_after: int | None) -> tuple[int, str, bool]:
        """Steps ``start`` .. ``steps``; returns the last step, why it stopped early and whether it paused."""
        config, context = self.config, self.context
        board = TensorBoard(config.tensorboard if context.main else "off", self.run_dir / "tensorboard", self.log)
        progress = ProgressBar(config.steps, self.start) if context.main else None
        voxels_per_step = config.batch * float(np.prod(config.patch))
        stop_reason, paused, step = "", False, self.start
        tick = time.perf_counter()
        for step_index, (low, normal) in zip(range(self.start, config.steps), batches):
            step = step_index + 1
            terms = self.recipe.step(low.to(context.device, non_blocking=True),
                                     normal.to(context.device, non_blocking=True))
            self.recipe.optimisation.schedule.step()
            stopped_in_step = self.recipe.step_stop(step, terms)
            self.running.add(terms)
            self.train_seconds += time.perf_counter() - tick
            if progress:
                progress.update(step, self.running.mean(), self._rate(voxels_per_step))
            stop_reason = stopped_in_step
            if not stop_reason and (step % config.validate_every == 0 or step == config.steps):
                stop_reason = self._validate(step, board, progress, voxels_per_step)
            paused = stop_after is not None and stop_after <= step < config.steps and not stop_reason
            if self._checkpoint_due(step) or paused or (stop_reason and not stopped_in_step):
                self._checkpoint(step)
            if stop_reason or paused:
                break
            tick = time.perf_counter()
        board.close()
        return step, stop_reason, paused

    def _rate(self, voxels_per_step: float) -> float:
        return self.running.count * voxels_per_step / max(self.train_seconds, 1e-9)

    def _validate(self, step: int, board: TensorBoard, progress: ProgressBar | None, voxels_per_step: float) -> str:
        """Validate, log the row, keep the best weights; returns why the run must stop, or ``""``."""
        config, context, recipe, record = self.config, self.context, self.recipe, self.record
        names = list(self.running.sums)
        means = distributed.all_sum(context, [self.running.sums[name] / self.running.count for name in names])
        losses = {name: round(total / context.world, 6) for name, total in zip(names, means)}
        metrics = validate(recipe.generator, recipe.validation, self.normalization, recipe.halo, context,
                           tuple(config.validation_noise_scales), recipe.per_slice_noise)
        row = {"step": step, "loss": losses[names[0]],
               **({f"loss_{name}": value for name, value in losses.items()} if len(names) > 1 else {}),
               "learning_rate": recipe.optimisation.schedule.get_last_lr()[0],
               "train_seconds": round(self.train_seconds, 2), "voxels_per_second_per_rank": round(
                   self._rate(voxels_per_step)),
               **{key: round(value, 4) for key, value in metrics.items()}, **recipe.extra_columns()}
        record.history.append(row)
        if progress:
            progress.newline()
        self.log(json.dumps(row))
        board.scalars(step, row)
        stop_reason = recipe.validated(step, metrics, record.best["psnr_db"], row)
        if metrics["psnr_db"] > record.best["psnr_db"]:
            record.best, record.since_best = {**metrics, "step": step}, 0
            if context.main:
                save_weights(recipe.generator, self.run_dir / BEST)
        else:
            record.since_best += 1
        if context.main:
            write_csv(self.run_dir / "metrics.csv", record.history)
        self.running.reset()
        self.train_seconds = 0.0
        if not stop_reason and config.early_stopping and record.since_best >= config.early_stopping \
                and step < config.steps:
            stop_reason = f"early stopping: no better validation PSNR in {config.early_stopping} validations"
        return stop_reason

    def _checkpoint_due(self, step: int) -> bool:
        every = self.config.checkpoint_every
        return bool(every and step % every == 0) or step == self.config.steps

    def _checkpoint(self, step: int) -> None:
        """Save a checkpoint of everything a resumed run needs (rank 0), after checking the ranks agree."""
        recipe, record = self.recipe, self.record
        check_in_sync(self.context, [recipe.module], "networks")
        if self.context.main:
            optimisation = recipe.optimisation
            state = {"config": self.config.to_dict(), "world": self.context.world,
                     "scheduler": optimisation.schedule.state_dict(), "scaler": optimisation.scaler.state_dict(),
                     "best": record.best, "history": record.history, "since_best": record.since_best,
                     "initialised_from": record.initialised_from, **recipe.checkpoint_state(self.running)}
            save_checkpoint(self.run_dir / CHECKPOINTS, step, recipe.module, optimisation.optimizer, state,
                            self.config.keep_checkpoints)
        distributed.barrier(self.context)

    def _export(self, command: str, step: int, stop_reason: str, seconds: float) -> dict:
        """Export the best weights as a registered model with its card (rank 0); returns the halo and what was
        exported."""
        recipe, config, context = self.recipe, self.config, self.context
        if not (self.run_dir / BEST).is_file():
            if not self.record.history:
                raise ValueError(f"no validation finished before the run stopped ({stop_reason}): nothing to export")
            self.log("warning: no validation improved on nothing (non-finite PSNR?); exporting the last weights")
            save_weights(recipe.generator, self.run_dir / BEST)
        model = load_best(recipe.generator, self.run_dir)
        first_low = np.load(recipe.validation[0].lows[0]).astype(np.float32)
        halo, measurements = study_halo(model, first_low, self.normalization)
        train_cases, validation_cases = recipe.card_cases()
        card = build_card(config, command, train_cases, validation_cases, config.dose_simulation().to_dict(),
                          self.normalization, halo, measurements, {**self.record.best, "last_step": step},
                          self.record.history, seconds, context.world, str(context.device), self.amp,
                          code_version(), self.record.initialised_from)
        recipe.complete_card(card, stop_reason)
        exported = export_or_save(model, config, card, self.run_dir, recipe.calibration_volumes(), self.log)
        return {"halo": halo, **({"exported": exported} if exported else {})}
