"""What a training recipe tells the one training loop (``loop.py``), and what the loop does with it.

The loop owns what every recipe shares: the run folder, the resume checks, the step loop and its progress line,
validation (PSNR/SSIM of the exported network), the best weights, ``metrics.csv``, checkpoints, early stopping,
``--stop-after``, and the export with its card. A recipe decides what it trains on, what it trains, what one step
computes, what a validation adds, and what its checkpoints and card hold besides the loop's own. The paired recipes
(plain, teacher-student, activation-map: ``paired.py``) and the unpaired one (``unpaired.py``) answer it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import torch
from torch.utils.data import Dataset

from CTDenoiseLib.inference.tiling import Halo
from CTDenoiseLib.models.files import LoadedModel

from ..distributed import Context
from ..prepare import PreparedCase
from ..running_loss import RunningLoss
from ..sources import Case


@dataclass
class Optimisation:
    """A recipe's optimiser, learning-rate schedule and gradient scaler (all checkpointed by the loop).

    Attributes:
        optimizer: over every parameter the recipe trains.
        schedule: stepped once per step, after the recipe's step.
        scaler: the gradient scaler (enabled with FP16 autocast).
        stretch: sets the schedule's length to a new step count (a resumed run given other ``steps``).
    """

    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    stretch: Callable[[int], None]


class Recipe(Protocol):
    """A training recipe as the loop runs it, in the order the loop asks. A recipe class names it as its base to
    take the defaults of the optional hooks (``step_stop``, ``extra_columns``, ``validated``: nothing to add).

    Attributes:
        validation: the prepared validation cases (set by ``prepare``); the loop scores ``generator`` on them.
        module: every network the recipe trains, as one module (set by ``build``): what checkpoints hold.
        generator: the network that is validated, kept as ``best.safetensors`` and exported (set by ``build``).
        halo: the tile overlap of validation (set by ``build``).
        optimisation: the optimiser, schedule and scaler (set by ``build``).
        per_slice_noise: validation tells a noise-conditioned ``generator`` each slice's estimated level (as the
            engine tells a model whose card says ``noise_map`` ``slice``) instead of the volume's.
    """

    per_slice_noise: bool = False
    validation: list[PreparedCase]
    module: torch.nn.Module
    generator: torch.nn.Module
    halo: Halo
    optimisation: Optimisation

    def cases(self, run_dir: Path, saved: bool) -> None:
        """Choose the run's cases: those of the run folder's saved split when ``saved``, else from the
        configuration (called before anything is written).

        Args:
            run_dir: the run folder.
            saved: the run continues from a checkpoint, so its split is saved.
        """

    def prepare(self, run_dir: Path, context: Context, log: Callable[[str], None]) -> str:
        """Save the split (rank 0) and prepare the data (read, simulate, cache); returns what is ready, for the
        ``data ready`` line.

        Args:
            run_dir: the run folder.
            context: the distributed context.
            log: where progress lines go.
        """

    def build(self, context: Context, source: LoadedModel | None) -> dict | None:
        """Make the networks (``module``, ``generator``, ``halo``) on the context's device, started from
        ``source`` where given, and their ``optimisation``; returns the provenance of ``source`` for the card.

        Args:
            context: the distributed context.
            source: the registered model to start from (``--init-from``), or None.
        """

    def start(self, context: Context, resuming: bool, log: Callable[[str], None]) -> Dataset:
        """Everything else the steps need, after the checkpoint's weights are loaded (a teacher, a classifier,
        the DDP wrapper); returns the batches, one item per step.

        Args:
            context: the distributed context.
            resuming: the run continues from a checkpoint.
            log: where progress lines go.
        """

    def step(self, low: torch.Tensor, normal: torch.Tensor) -> dict[str, float]:
        """What a step computes: one optimisation step on a batch (on the context's device); returns its loss
        terms, the same names every step (the first is the loss the progress line shows).

        Args:
            low: the input patches.
            normal: the target patches.
        """

    def step_stop(self, step: int, terms: dict[str, float]) -> str:
        """Why the run must stop at once after this step (the same on every rank), or ``""``; a run stopped here
        is not validated nor checkpointed again.

        Args:
            step: the step just taken (1-based).
            terms: its loss terms.
        """
        return ""

    def extra_columns(self) -> dict:
        """What a validation row adds after the metrics (the recipe's own running terms), then starts again."""
        return {}

    def validated(self, step: int, metrics: dict, best_psnr_db: float, row: dict) -> str:
        """What a validation adds (warnings, samples); returns why the run must stop, or ``""``.

        Args:
            step: the step validated.
            metrics: the validation's means (``validation.validate``).
            best_psnr_db: the best mean PSNR before this validation.
            row: the history row of this validation.
        """
        return ""

    def checkpoint_state(self, running: RunningLoss) -> dict:
        """What a checkpoint's ``state.json`` holds of the recipe, with the running loss (rank 0).

        Args:
            running: the loss terms summed since the last validation.
        """

    def restore(self, state: dict) -> RunningLoss:
        """Continue from a checkpoint's state: check that the recipe is the one it was made with, restore the
        recipe's own state; returns the running loss it held.

        Args:
            state: the checkpoint's JSON state.
        """

    def card_cases(self) -> tuple[list[Case], list[Case]]:
        """The training and validation cases the model card lists."""

    def complete_card(self, card: dict, stop_reason: str) -> None:
        """Add the recipe's entries to the model card (in place).

        Args:
            card: the card ``export.build_card`` made.
            stop_reason: why the run stopped early, or ``""``.
        """

    def calibration_volumes(self) -> list[str]:
        """The volumes the INT8 export calibrates on (the network's real inputs)."""
