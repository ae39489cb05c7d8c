"""Training, start to end: the recipe the configuration names (``recipes``) run in the one loop (``loop.py``):
patch batches from lazily read cases, Adam with cosine decay, optional mixed precision, DDP under torchrun,
validation PSNR/SSIM on whole held-out volumes, checkpoints that resume exactly, and the best weights exported as a
registered model."""

from __future__ import annotations

import time
from typing import Callable

from . import distributed
from .config import TrainConfig
from .loop import TrainingLoop
from .optimisation import prepare_process
from .recipes.dispatch import make_recipe


def train(config: TrainConfig, command: str = "", log: Callable[[str], None] = print, resume: bool = False,
          stop_after: int | None = None) -> dict:
    """Train (or with ``resume`` continue) the run in ``config.run_dir``.

    Args:
        config: the run's configuration.
        command: the command line, recorded in ``run.json`` and the card.
        log: where progress lines go (rank 0 only).
        resume: continue from the run folder's latest checkpoint.
        stop_after: checkpoint after that step and return without exporting (for batch jobs with a wall-time
            limit; continue with ``resume``).

    Returns:
        What ``TrainingLoop.run`` returns.
    """
    started = time.perf_counter()
    context = distributed.setup(config.device)
    try:
        log = log if context.main else (lambda _: None)
        amp = prepare_process(config, context)
        recipe = make_recipe(config, context, amp, log)
        return TrainingLoop(recipe, config, context, log, amp, started).run(command, resume, stop_after)
    finally:
        distributed.cleanup(context)
