"""The activation-map recipe (Han & Baek 2022, ``activation_map_recipe.py``) built from a run's configuration:
the lesion classifier loaded from safetensors (never unpickled) and checksummed, and the HU normalisation the
classifier's input needs."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from CTDenoiseLib.models.registry import sha256_of

from ..activation_map_recipe import ActivationMapRecipe
from ..lesion_patches import load_classifier
from ..patches import PatchBatches


def make_activation_map(config, dataset: PatchBatches, log: Callable[[str], None]) -> ActivationMapRecipe:
    """The recipe object of an ``activation-map`` run.

    Args:
        config: the run's ``TrainConfig`` (recipe keys checked by ``options.activation_map_problems``).
        dataset: the run's patch batches (their HU normalisation maps the network's intensities back to HU).
        log: where progress lines go.
    """
    path = Path(config.lesion_classifier)
    try:
        classifier = load_classifier(path, features=config.lesion_classifier_features)
    except Exception as error:  # safetensors' own errors, or a state dict of another shape
        raise ValueError(f"lesion_classifier {path} is not a lesion classifier of {config.lesion_classifier_features} "
                         f"features (lesion_patches.save_classifier): {str(error).splitlines()[0]}") from error
    sha256 = sha256_of(path)
    normalization = dataset.normalization
    log(f"activation-map: lesion classifier {path} (SHA-256 {sha256[:12]}...), variant {config.activation_map_variant}")
    return ActivationMapRecipe(config.activation_map_options(), classifier,
                               lambda values: values * normalization.scale - normalization.offset, sha256)
