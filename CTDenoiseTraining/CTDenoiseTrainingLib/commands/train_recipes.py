"""The ``ctdenoise train`` options of the training recipes (keys of CTDenoiseTrainingLib.recipes.options);
see docs/training.md, section "Recipes"."""

from __future__ import annotations

import argparse

RECIPES = ("plain", "teacher-student", "unpaired", "activation-map")


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the recipe option group to the train parser (every option is also a configuration key).

    Args:
        parser: the ``train`` sub-command's parser.
    """
    group = parser.add_argument_group("recipes (docs/training.md)")
    group.add_argument("--recipe", choices=RECIPES,
                       help="plain pixel loss (default); teacher-student (feature consistency with a teacher trained "
                            "normal->normal, optional contrastive term); unpaired (CycleGAN-style on unpaired "
                            "low-dose and normal-dose scans: --data-dir normal, --low-dose-dir low); activation-map "
                            "(Han & Baek 2022: a lesion classifier's activation maps weight the loss, "
                            "--lesion-classifier)")
    group.add_argument("--teacher-steps", type=int, help="steps of teacher training before the student (default 500)")
    group.add_argument("--teacher-weights", help="a trained teacher (safetensors, same architecture) instead")
    group.add_argument("--consistency-layers", nargs="+", metavar="MODULE",
                       help="network modules whose features are compared (default head blocks)")
    group.add_argument("--consistency-weight", type=float, help="weight of the feature-consistency loss (0.1)")
    group.add_argument("--contrastive-weight", type=float,
                       help="weight of the contrastive regularisation (default 0: off)")
    group.add_argument("--feature-network", choices=("teacher", "vgg"),
                       help="feature space of the contrastive and perceptual losses: the teacher's encoder "
                            "(default) or VGG-16 from --perceptual-weights")
    group.add_argument("--adversarial-weight", type=float, help="unpaired: least-squares GAN weight (1)")
    group.add_argument("--cycle-weight", type=float, help="unpaired: cycle-consistency L1 weight (10)")
    group.add_argument("--identity-weight", type=float, help="unpaired: identity L1 weight (5)")
    group.add_argument("--perceptual-weight", type=float, help="unpaired: perceptual cycle loss weight (1; 0: off)")
    group.add_argument("--discriminator-features", type=int, help="unpaired: first discriminator layer width (16)")
    group.add_argument("--discriminator-learning-rate", type=float,
                       help="unpaired: discriminators' learning rate (0: --learning-rate)")
    group.add_argument("--noise-generator-features", type=int, help="unpaired: normal->low generator width (16)")
    group.add_argument("--noise-generator-blocks", type=int, help="unpaired: normal->low generator blocks (2)")
    group.add_argument("--divergence-db", type=float,
                       help="unpaired: validation PSNR this far below the best counts as diverging (3)")
    group.add_argument("--divergence-patience", type=int,
                       help="unpaired: stop after this many diverging validations in a row (3; 0: only warn)")
    group.add_argument("--lesion-classifier", metavar="SAFETENSORS",
                       help="activation-map: the lesion classifier's weights (lesion_patches.save_classifier)")
    group.add_argument("--lesion-classifier-features", type=int,
                       help="activation-map: width of that classifier (16)")
    group.add_argument("--activation-map-variant", choices=("multiply", "weight"),
                       help="activation-map: multiply (the paper's: low and normal dose x map, default) or weight "
                            "(per-voxel L1 weighted by floor + (1 - floor) x map)")
    group.add_argument("--activation-map-floor", type=float,
                       help="activation-map, weight variant: loss weight where the map is 0 (0.1)")
