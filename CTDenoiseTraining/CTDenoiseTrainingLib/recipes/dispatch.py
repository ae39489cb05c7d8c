"""Which loop and which optimisation step a recipe uses; ``train.py`` asks here and nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from ..distributed import Context
from ..patches import PatchBatches
from . import ACTIVATION_MAP, TEACHER_STUDENT, UNPAIRED


def own_loop(recipe: str) -> Callable | None:
    """The training function of a recipe with a loop of its own (same signature as ``train._train``), else None."""
    if recipe == UNPAIRED:
        from .unpaired import train_unpaired

        return train_unpaired
    return None


def paired_recipe(config, model: torch.nn.Module, dataset: PatchBatches, context: Context, run_dir: Path,
                  resuming: bool, log: Callable[[str], None]):
    """The recipe object of a recipe that runs in the plain loop (``step``, ``terms``, ``checkpoint_state``,
    ``check_resumed``, ``card``), or None for the plain recipe.

    Args:
        config: the run's ``TrainConfig``.
        model: the network being trained (inner, not DDP-wrapped).
        dataset: the run's patch batches.
        context: the distributed context.
        run_dir: the run folder.
        resuming: the run continues from a checkpoint.
        log: where progress lines go.
    """
    if config.recipe == TEACHER_STUDENT:
        from .teacher_student import make_teacher_student

        return make_teacher_student(config, model, dataset, context, run_dir, resuming, log)
    if config.recipe == ACTIVATION_MAP:
        from .activation_map import make_activation_map

        return make_activation_map(config, dataset, log)
    return None
