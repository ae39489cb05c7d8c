"""Configuration keys of the teacher-student, unpaired and activation-map recipes, as dataclass mixins of
``TrainConfig``.

Every key is a configuration-file key and a ``ctdenoise train`` option (dashes for underscores); the defaults
leave the plain recipe exactly as it was. ``recipe_problems`` checks them for ``TrainConfig.__post_init__``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..config_options import RECIPES, option
from . import ACTIVATION_MAP, NAMES, PLAIN, TEACHER_STUDENT, UNPAIRED
from .activation_map_options import VARIANTS
from .activation_map_options import ActivationMapOptions as RecipeOptions

FEATURE_NETWORKS = ("teacher", "vgg")


@dataclass
class TeacherStudentOptions:
    # The teacher: the same architecture trained normal dose -> normal dose (input skip removed, see teacher.py)
    teacher_steps: int = option(500, group=RECIPES,
                                help="steps of teacher training before the student, also the unpaired feature space "
                                     "(default 500)")
    teacher_weights: str = option("", group=RECIPES,
                                  help="a trained teacher (safetensors, same architecture and size) instead")
    consistency_layers: list[str] = option(group=RECIPES, factory=lambda: ["head", "blocks"], metavar="MODULE",
                                           help="network modules whose features are compared (default head blocks)")
    consistency_weight: float = option(0.1, group=RECIPES,
                                       help="weight of the feature-consistency loss: student features on low dose vs "
                                            "teacher features on normal dose, L1 (0.1)")
    contrastive_weight: float = option(0.0, group=RECIPES,
                                       help="weight of the contrastive regularisation: pull the output to normal "
                                            "dose, push it from low dose, in --feature-network (default 0: off)")
    feature_network: str = option("teacher", group=RECIPES, choices=FEATURE_NETWORKS,
                                  help="feature space of the contrastive and perceptual losses: the teacher's encoder "
                                       "at --consistency-layers (default) or VGG-16 from --perceptual-weights")


@dataclass
class UnpairedOptions:
    adversarial_weight: float = option(1.0, group=RECIPES, help="unpaired: least-squares GAN weight, both "
                                                                "directions (1)")
    cycle_weight: float = option(10.0, group=RECIPES, help="unpaired: cycle-consistency L1 weight (10)")
    identity_weight: float = option(5.0, group=RECIPES, help="unpaired: L1 weight of each generator on its own "
                                                             "target domain (5)")
    perceptual_weight: float = option(1.0, group=RECIPES, help="unpaired: perceptual cycle loss weight (1; 0: off)")
    discriminator_features: int = option(16, group=RECIPES,
                                         help="unpaired: first 3D patch-discriminator layer width, doubling twice (16)")
    discriminator_learning_rate: float = option(0.0, group=RECIPES,
                                                help="unpaired: discriminators' learning rate (0: --learning-rate)")
    noise_generator_features: int = option(16, group=RECIPES, help="unpaired: normal->low generator width (16)")
    noise_generator_blocks: int = option(2, group=RECIPES, help="unpaired: normal->low generator blocks (2)")
    divergence_db: float = option(3.0, group=RECIPES,
                                  help="unpaired: validation PSNR this far below the best counts as diverging (3)")
    divergence_patience: int = option(3, group=RECIPES,
                                      help="unpaired: stop after this many diverging validations in a row "
                                           "(3; 0: only warn)")


@dataclass
class ActivationMapOptions:
    # Han & Baek 2022; the recipe's own options are activation_map_options.ActivationMapOptions (these, unprefixed)
    lesion_classifier: str = option("", group=RECIPES, metavar="SAFETENSORS",
                                    help="activation-map: the lesion classifier's weights "
                                         "(lesion_patches.save_classifier)")
    lesion_classifier_features: int = option(16, group=RECIPES,
                                             help="activation-map: width of that classifier (16)")
    activation_map_variant: str = option("multiply", group=RECIPES, choices=VARIANTS,
                                         help="activation-map: multiply (the paper's: low and normal dose x map, "
                                              "default) or weight (per-voxel L1 weighted by floor + (1 - floor) x "
                                              "map)")
    activation_map_floor: float = option(0.1, group=RECIPES,
                                         help="activation-map, weight variant: loss weight where the map is 0 (0.1)")

    def activation_map_options(self) -> RecipeOptions:
        """The recipe's own options (activation_map_options.ActivationMapOptions) from these keys."""
        return RecipeOptions(classifier=self.lesion_classifier, variant=self.activation_map_variant,
                             floor=self.activation_map_floor, classifier_features=self.lesion_classifier_features)


def activation_map_problems(config) -> list[str]:
    """What is wrong with the activation-map keys of a ``TrainConfig`` whose recipe is activation-map."""
    problems = []
    if config.z_upscale != 1:
        problems.append("the activation-map recipe needs z_upscale 1 (its maps are of the normal-dose slices, "
                        "which must match the input's)")
    path = Path(config.lesion_classifier) if config.lesion_classifier else None
    if path is None:
        problems.append("the activation-map recipe needs lesion_classifier (--lesion-classifier): a lesion "
                        "classifier's safetensors file")
    elif not path.is_file() or not os.access(path, os.R_OK):
        problems.append(f"lesion_classifier {path} is not a readable file")
    elif path.suffix.lower() != ".safetensors":
        problems.append(f"lesion_classifier {path} must be a .safetensors file (never unpickled)")
    if config.lesion_classifier_features < 1:
        problems.append("lesion_classifier_features must be >= 1")
    else:
        problems += config.activation_map_options().problems()
    return problems


def recipe_problems(config) -> list[str]:
    """What is wrong with the recipe keys of a ``TrainConfig`` (empty when nothing is)."""
    problems = []
    if config.recipe not in NAMES:
        problems.append(f"recipe must be one of {', '.join(NAMES)}")
    if config.feature_network not in FEATURE_NETWORKS:
        problems.append(f"feature_network must be one of {', '.join(FEATURE_NETWORKS)}")
    if config.recipe in (TEACHER_STUDENT, UNPAIRED):
        if config.z_upscale != 1:
            problems.append(f"the {config.recipe} recipe needs z_upscale 1")
        if config.teacher_steps < 0 or not config.consistency_layers:
            problems.append("teacher_steps must be >= 0 and consistency_layers name at least one layer")
        if min(config.consistency_weight, config.contrastive_weight, config.adversarial_weight, config.cycle_weight,
               config.identity_weight, config.perceptual_weight, config.discriminator_learning_rate) < 0:
            problems.append("recipe loss weights and learning rates must be >= 0")
        if min(config.discriminator_features, config.noise_generator_features, config.noise_generator_blocks + 1) < 1:
            problems.append("discriminator_features, noise_generator_features >= 1 and noise_generator_blocks >= 0")
        feature_weight = config.contrastive_weight if config.recipe == TEACHER_STUDENT else config.perceptual_weight
        uses_features = feature_weight > 0
        if uses_features and config.feature_network == "vgg" and not config.perceptual_weights:
            problems.append("feature_network vgg needs perceptual_weights (a VGG-16 ImageNet weights file, which "
                            "CTDenoise cannot download); or use feature_network teacher")
        if config.divergence_db <= 0 or config.divergence_patience < 0:
            problems.append("divergence_db must be > 0 and divergence_patience >= 0")
    if config.recipe == ACTIVATION_MAP:
        problems += activation_map_problems(config)
    return problems


# Changing these between a run and its resumption would silently train something else (a saved configuration
# without a key was made before recipes existed, i.e. with its default).
RECIPE_MUST_MATCH = ("recipe", "teacher_steps", "teacher_weights", "consistency_layers", "consistency_weight",
                     "contrastive_weight", "feature_network", "adversarial_weight", "cycle_weight", "identity_weight",
                     "perceptual_weight", "discriminator_features", "discriminator_learning_rate",
                     "noise_generator_features", "noise_generator_blocks", "perceptual_weights", "lesion_classifier",
                     "lesion_classifier_features", "activation_map_variant", "activation_map_floor")


def recipe_differences(saved: dict, current: dict, defaults: dict) -> list[str]:
    """Recipe keys whose value differs between a checkpoint's configuration and this run's."""
    keys = RECIPE_MUST_MATCH if current.get("recipe", PLAIN) != PLAIN else ("recipe",)
    return [key for key in keys if saved.get(key, defaults.get(key)) != current.get(key)]
