"""Activation-map fine-tuning (Han & Baek 2022): after ordinary training, weight what the loss sees by a lesion
classifier's activation map of the normal-dose patch, so that small lesions count more than flat background.

Two variants (``ActivationMapOptions.variant``):

- ``multiply`` (the paper's): train on pairs (low dose x map, normal dose x map), in the network's normalised
  intensities (a noise-conditioned network's noise-level channel is not multiplied);
- ``weight``: train on the plain pairs with the per-voxel loss weighted by ``floor + (1 - floor) x map``.

Maps: the classifier's CAM (``lesion_classifier.LesionCNN.cam``) of every axial slice of the normal-dose patch
(HU), normalised to [0, 1] per slice. ``ActivationMapRecipe`` is a paired recipe's own step (``paired.PairedStep``),
built from a run's configuration by ``make_activation_map``: the lesion classifier loaded from safetensors (never
unpickled) and checksummed, and the HU normalisation the classifier's input needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from CTDenoiseLib.models.registry import sha256_of

from ..optimisation import descend
from ..patches import PatchBatches
from .activation_map_options import ActivationMapOptions
from .lesion_classifier import LesionCNN, to_input
from .lesion_patches import load_classifier


@torch.no_grad()
def activation_maps(classifier: LesionCNN, normal_hu: torch.Tensor) -> torch.Tensor:
    """(N, 1, Z, Y, X) normal-dose HU -> maps of the same shape in [0, 1], one CAM per axial slice."""
    n, c, z, y, x = normal_hu.shape
    slices = normal_hu.permute(0, 2, 1, 3, 4).reshape(n * z, c, y, x)
    maps = classifier.cam(to_input(slices))
    return maps.reshape(n, z, 1, y, x).permute(0, 2, 1, 3, 4)


def masked_input(low: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """The low-dose input times the maps; a noise-conditioned network's noise-level channel (channel 1) is kept:
    it states the noise of the scan the patch came from, which the map scales down but does not change in kind,
    and at inference the network sees unmasked scans with that level."""
    return torch.cat([low[:, :1] * maps, low[:, 1:]], dim=1)


def map_weighted_l1(prediction: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Sum of weight x |error| over the sum of the weights."""
    return (weights * (prediction - target).abs()).sum() / weights.sum().clamp_min(1e-12)


class ActivationMapRecipe:
    """The recipe's own step (``paired.PairedStep``): ``step`` replaces the plain optimisation step.

    Args:
        options: the recipe's configuration.
        classifier: the trained lesion classifier (frozen).
        denormalise: maps the network's normalised intensities back to HU (for the classifier's input).
        classifier_sha256: SHA-256 of the classifier's file, recorded in checkpoints and the card ("" unknown).
    """

    def __init__(self, options: ActivationMapOptions, classifier: LesionCNN, denormalise,
                 classifier_sha256: str = "") -> None:
        problems = options.problems()
        if problems:
            raise ValueError("; ".join(problems))
        self.options = options
        self.classifier = classifier.eval().requires_grad_(False)
        self.denormalise = denormalise
        self.classifier_sha256 = classifier_sha256
        self.mean_map = 0.0

    def step(self, network: torch.nn.Module, low: torch.Tensor, normal: torch.Tensor, loss_function,
             optimizer: torch.optim.Optimizer, scaler, amp: str, device: torch.device) -> torch.Tensor:
        """One optimisation step on a (low, normal) batch of normalised patches; returns the loss.

        Args:
            network, low, normal, loss_function, optimizer, scaler, amp, device: as ``paired.PairedStep.step``
                (``loss_function`` serves the multiply variant; the step runs in FP32 whatever ``amp``).
        """
        maps = activation_maps(self.classifier.to(device), self.denormalise(normal)).to(normal.dtype)
        self.mean_map = float(maps.mean())
        if self.options.variant == "multiply":
            loss = loss_function(network(masked_input(low, maps)), normal * maps)
        else:
            weights = self.options.floor + (1.0 - self.options.floor) * maps
            loss = map_weighted_l1(network(low), normal, weights)
        descend(loss, optimizer, scaler)
        return loss

    def terms(self) -> dict:
        """Extra columns of the training history."""
        return {"mean_activation_map": round(self.mean_map, 4)}

    def checkpoint_state(self) -> dict:
        """The options and the classifier's SHA-256 (checked on resume)."""
        return {"recipe": {"activation_map": self.options.to_dict(), "classifier_sha256": self.classifier_sha256}}

    def check_resumed(self, saved: dict | None) -> None:
        """Refuse to continue with other options or another classifier file than the checkpoint's.

        Args:
            saved: the checkpoint's ``recipe`` entry.
        """
        if saved and saved.get("activation_map") != self.options.to_dict():
            raise ValueError("cannot resume: the activation-map options differ from the checkpoint's")
        if saved and saved.get("classifier_sha256", self.classifier_sha256) != self.classifier_sha256:
            raise ValueError(f"cannot resume: the lesion classifier file changed since the checkpoint (SHA-256 "
                             f"{saved.get('classifier_sha256')}, now {self.classifier_sha256})")

    def card(self) -> dict:
        """What the model card records about the recipe."""
        return {"name": "activation-map", "maps": "CAM of the lesion classifier per axial slice of the normal-dose "
                                                  "patch, normalised to [0, 1]", **self.options.to_dict(),
                "classifier_sha256": self.classifier_sha256}


def make_activation_map(config, model: torch.nn.Module, dataset: PatchBatches, context, run_dir: Path,
                        resuming: bool, log: Callable[[str], None]) -> ActivationMapRecipe:
    """The recipe's step for an ``activation-map`` run (a ``paired.PairedStepMaker``).

    Args:
        config: the run's ``TrainConfig`` (recipe keys checked by ``options.activation_map_problems``).
        model: the network (unused: the step reads the batches only).
        dataset: the run's patch batches (their HU normalisation maps the network's intensities back to HU).
        context: the distributed context (unused).
        run_dir: the run folder (unused).
        resuming: the run continues from a checkpoint (unused: the classifier file is checked by checksum).
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
