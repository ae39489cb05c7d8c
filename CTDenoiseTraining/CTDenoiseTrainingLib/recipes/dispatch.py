"""The recipe a configuration names, built for the one training loop (``loop.py``)."""

from __future__ import annotations

from typing import Callable

from ..config import TrainConfig
from ..distributed import Context
from . import ACTIVATION_MAP, TEACHER_STUDENT, UNPAIRED
from .activation_map import make_activation_map
from .paired import PairedRecipe
from .protocol import Recipe
from .teacher_student import make_teacher_student
from .unpaired import UnpairedRecipe

PAIRED_STEPS = {TEACHER_STUDENT: make_teacher_student, ACTIVATION_MAP: make_activation_map}  # plain: the pixel loss


def make_recipe(config: TrainConfig, context: Context, amp: str, log: Callable[[str], None]) -> Recipe:
    """The recipe of ``config.recipe``; what fails without data (the loss, its weights files) fails here.

    Args:
        config: the run's configuration.
        context: the distributed context.
        amp: the resolved mixed-precision mode.
        log: where progress lines go.
    """
    if config.recipe == UNPAIRED:
        return UnpairedRecipe(config, context, amp, log)
    return PairedRecipe(config, context, amp, PAIRED_STEPS.get(config.recipe))
