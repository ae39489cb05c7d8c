"""What must not change between a run and its resumption, checked against the checkpoint's configuration."""

from __future__ import annotations

from typing import Callable

from .config import TrainConfig
from .recipes.options import recipe_differences

# Changing these between a run and its resumption would silently train something else.
RESUME_MUST_MATCH = ("architecture", "features", "blocks", "z_upscale", "noise_input", "noise_level_map",
                     "noise_level_jitter", "patch", "real_pair_fraction",
                     "batch", "seed", "loss",
                     "learning_rate", "dose", "photons", "electronic_noise", "realisations", "noise_scale",
                     "kernels", "exposure_control", "slice_averaging", "pixel_zoom", "validation_noise_scales")


def check_resumable(saved: dict, config: TrainConfig, world: int, log: Callable[[str], None]) -> None:
    """Refuse to resume with settings that would train something else; warn when the rank count changed.

    Args:
        saved: the checkpoint's JSON state (``config``, ``world``).
        config: this run's configuration.
        world: this run's rank count.
        log: where the warning goes.

    Raises:
        ValueError: a key of ``RESUME_MUST_MATCH`` or of the recipe differs.
    """
    defaults = TrainConfig().to_dict()  # a key added since the run started has its default there
    differ = [key for key in RESUME_MUST_MATCH
              if saved["config"].get(key, defaults.get(key)) != config.to_dict().get(key)]
    differ += recipe_differences(saved["config"], config.to_dict(), defaults)
    if differ:
        raise ValueError(f"cannot resume: {', '.join(differ)} differ from the checkpoint's configuration; "
                         "start a new --run-dir to train with other settings")
    if saved.get("world") != world:
        log(f"warning: resuming with {world} rank(s) where the run had {saved.get('world')}: training continues, "
            "but not batch for batch as the uninterrupted run would have")
