"""The unpaired recipe: CycleGAN-style training on unpaired low-dose and normal-dose scans, in the one loop.

What stays as in the paired recipes: configuration, run folder files, split by patient, the cache, validation of
the low -> normal generator on held-out normal-dose scans with simulated low dose (PSNR/SSIM, best weights kept),
exact checkpoints (all four networks and both parameter groups' Adam moments in one checkpoint, plus the running
loss sums and the divergence watch), ``--stop-after``/``--resume``, ``torchrun`` (gradients averaged by hand, see
collective.py), and the export of the low -> normal generator as a registered model whose card records the
recipe. Added: both losses logged at every validation, PNG samples in ``RUN_DIR/samples``, and the divergence watch
(warns; stops after ``divergence_patience`` validations far below the best).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import Dataset

from CTDenoiseLib.hu import HUNormalization
from CTDenoiseLib.inference.tiled import denoise_hu
from CTDenoiseLib.models import receptive_field_radius
from CTDenoiseLib.models.files import LoadedModel
from CTDenoiseLib.runtime.backends import TorchRunner

from .. import distributed
from ..config import TrainConfig
from ..fine_tune import initialise_from
from ..prepare import PreparedCase, prepare_cases
from ..running_loss import RunningLoss
from ..sources import Case
from ..validation import VALIDATION_SEED_OFFSET
from .collective import broadcast_parameters
from .cycle_networks import CycleNetworks
from .cycle_step import CycleWeights, cycle_step
from .divergence import DivergenceWatch
from .feature_space import FeatureSpace, make_feature_space
from .protocol import Optimisation, Recipe
from .samples import write_samples
from .teacher import obtain_teacher
from .unpaired_data import (
    UnpairedBatches,
    UnpairedCases,
    gather_unpaired,
    load_unpaired_split,
    middle_slab,
    prepare_volumes,
    save_unpaired_split,
)

TERMS = ("generator", "discriminator", "adversarial", "cycle", "identity", "perceptual")


class CosineFactor:
    """Learning-rate factor of both parameter groups: cosine from 1 to 0.02 over ``total`` steps (as the plain
    recipe's schedule); a plain object, so LambdaLR keeps ``total`` in its JSON state.

    Args:
        total: the run's step count.
    """

    def __init__(self, total: int) -> None:
        self.total = total

    def __call__(self, step: int) -> float:
        """The factor at ``step``.

        Args:
            step: the schedule's step count.
        """
        return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * min(step, self.total) / self.total))


def _samples(nets: CycleNetworks, low_paths: list[str], validation: list[PreparedCase],
             normalization: HUNormalization, halo: int, path: Path) -> None:
    """PNG of the middle slice: a held-out low-dose scan (input | output), the first validation case
    (simulated low dose | output | normal dose)."""
    run = TorchRunner(nets.g.eval(), str(next(nets.g.parameters()).device))
    rows = []
    for low_path in low_paths[:1]:
        slab = middle_slab(low_path, halo)
        rows.append([slab[len(slab) // 2], denoise_hu(slab, run, normalization, halo)[len(slab) // 2]])
    case = validation[0]
    slab, truth = middle_slab(case.lows[0], halo), middle_slab(case.normal, halo)
    rows.append([slab[len(slab) // 2], denoise_hu(slab, run, normalization, halo)[len(slab) // 2],
                 truth[len(truth) // 2]])
    nets.g.train()
    write_samples(path, rows)


class UnpairedRecipe(Recipe):
    """Two generators and two 3D patch discriminators on unpaired domains.

    Args:
        config: the run's configuration.
        context: the distributed context.
        amp: the resolved mixed-precision mode.
        log: where progress lines go.
    """

    def __init__(self, config: TrainConfig, context: distributed.Context, amp: str,
                 log: Callable[[str], None]) -> None:
        self.config, self.context, self.amp, self.log = config, context, amp, log
        self.normalization = HUNormalization()
        self.weights = CycleWeights(config.adversarial_weight, config.cycle_weight, config.identity_weight,
                                    config.perceptual_weight)
        self.watch = DivergenceWatch(config.divergence_db, config.divergence_patience)
        self.discriminator_rate = config.discriminator_learning_rate or config.learning_rate
        self.space: FeatureSpace | None = None
        self.feature_card: dict | None = None

    def cases(self, run_dir: Path, saved: bool) -> None:
        """See ``Recipe.cases``.

        Args:
            run_dir: the run folder.
            saved: the run continues from a checkpoint, so its split is saved.
        """
        self.unpaired: UnpairedCases = (load_unpaired_split(run_dir) if saved else None) or \
            gather_unpaired(self.config)

    def prepare(self, run_dir: Path, context: distributed.Context, log: Callable[[str], None]) -> str:
        """See ``Recipe.prepare``: both domains' scans, and simulated low dose of the held-out normal-dose ones.

        Args:
            run_dir: the run folder.
            context: the distributed context.
            log: where progress lines go.
        """
        config, cases, self.run_dir = self.config, self.unpaired, run_dir
        if context.main:
            save_unpaired_split(run_dir, cases)
        cache, variants = config.simulation_cache(run_dir), config.simulation_variants()
        barrier = lambda: distributed.barrier(context)  # noqa: E731
        self.normal_train = prepare_volumes(cases.normal_train, cache, context.rank, context.world, barrier)
        self.low_train = prepare_volumes(cases.low_train, cache, context.rank, context.world, barrier)
        self.low_validation = prepare_volumes(cases.low_validation, cache, context.rank, context.world, barrier)
        self.validation = prepare_cases(cases.normal_validation, config.dose_simulation(), len(variants), 1, cache,
                                        context.rank, context.world, barrier, log, offset=VALIDATION_SEED_OFFSET,
                                        variants=variants)
        return (f"{len(self.low_train)} low-dose and {len(self.normal_train)} normal-dose training scan(s), "
                f"{len(self.validation)} validation case(s) (simulated low dose), {len(self.low_validation)} "
                "held-out low-dose scan(s)")

    def build(self, context: distributed.Context, source: LoadedModel | None) -> dict | None:
        """See ``Recipe.build``: the four networks, one Adam with two parameter groups (betas 0.5, 0.999), and
        the cosine factor.

        Args:
            context: the distributed context.
            source: the registered model the low -> normal generator starts from, or None.
        """
        config = self.config
        self.module = self.nets = CycleNetworks(config.model_config(), config.noise_generator_features,
                                                config.noise_generator_blocks,
                                                config.discriminator_features).to(context.device)
        self.generator = self.nets.g
        initialised = initialise_from(self.nets.g, source) if source else None
        broadcast_parameters(context, [self.nets])
        self.halo = receptive_field_radius(self.nets.g)[0]
        optimizer = torch.optim.Adam([{"params": self.nets.generator_parameters(), "lr": config.learning_rate},
                                      {"params": self.nets.discriminator_parameters(), "lr": self.discriminator_rate}],
                                     betas=(0.5, 0.999))
        factor = CosineFactor(config.steps)

        def stretch(steps: int) -> None:
            factor.total = steps

        self.optimisation = Optimisation(optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, [factor, factor]),
                                         torch.amp.GradScaler("cuda", enabled=self.amp == "fp16"), stretch)
        return initialised

    def start(self, context: distributed.Context, resuming: bool, log: Callable[[str], None]) -> Dataset:
        """See ``Recipe.start``: the unpaired batches and the feature space of the perceptual term (the teacher's
        encoder, trained or reused, or VGG).

        Args:
            context: the distributed context.
            resuming: the run continues from a checkpoint (its teacher is reused).
            log: where progress lines go.
        """
        config = self.config
        dataset = UnpairedBatches(self.low_train, self.normal_train, config.patch, config.batch, config.seed,
                                  context.rank, self.normalization, config.noise_input, config.noise_level_jitter)
        if config.perceptual_weight > 0:
            teacher = None
            if config.feature_network == "teacher":
                # trained on normal dose, which has no level to give: blind, as the teacher-student recipe's
                teacher, self.feature_card = obtain_teacher(
                    replace(config.model_config(), noise_input=False), self.run_dir, config.teacher_weights,
                    dataset.normal, config.teacher_steps, config.learning_rate, context, config.seed, resuming, log)
            self.space = make_feature_space(config.feature_network, teacher, config.consistency_layers,
                                            config.perceptual_weights, context.device)
            self.feature_card = {**self.space.describe(), **({"teacher": self.feature_card} if self.feature_card
                                                             else {"weights": config.perceptual_weights})}
        return dataset

    def step(self, low: torch.Tensor, normal: torch.Tensor) -> dict[str, float]:
        """See ``Recipe.step``: both generators, then both discriminators (``cycle_step``); the terms of ``TERMS``.

        Args:
            low: low-dose patches.
            normal: normal-dose patches of other scans.
        """
        optimisation = self.optimisation
        terms = cycle_step(self.nets, low, normal, self.weights, self.space, optimisation.optimizer,
                           optimisation.scaler, self.amp, self.context)
        return {name: float(value) for name, value in terms.items()}

    def step_stop(self, step: int, terms: dict[str, float]) -> str:
        """See ``Recipe.step_stop``: a non-finite loss on any rank stops every rank.

        Args:
            step: the step just taken.
            terms: its loss terms.
        """
        stop_reason = self.watch.losses(step, terms) or ""
        if distributed.all_sum(self.context, [1.0 if stop_reason else 0.0])[0] and not stop_reason:
            stop_reason = f"diverged at step {step}: non-finite loss on another rank"  # all ranks stop together
        return stop_reason

    def validated(self, step: int, metrics: dict, best_psnr_db: float, row: dict) -> str:
        """See ``Recipe.validated``: the divergence watch's warnings, and a PNG of samples (rank 0).

        Args:
            step: the step validated.
            metrics: the validation's means.
            best_psnr_db: the best mean PSNR before it.
            row: its history row.
        """
        warnings, diverged = self.watch.validation(step, metrics["psnr_db"], best_psnr_db, row["loss_discriminator"],
                                                   metrics["psnr_gain_db"])
        for warning in warnings:
            self.log(warning)
        if self.context.main:
            _samples(self.nets, [case.normal for case in self.low_validation or self.low_train], self.validation,
                     self.normalization, self.halo, self.run_dir / "samples" / f"step-{step:08d}.png")
        if diverged:
            return (f"diverging: {self.watch.in_a_row} validations in a row more than {self.config.divergence_db} dB "
                    "below the best PSNR")
        return ""

    def checkpoint_state(self, running: RunningLoss) -> dict:
        """See ``Recipe.checkpoint_state``: ``recipe``: the loss sums, their count and the divergence watch.

        Args:
            running: the loss terms summed since the last validation.
        """
        return {"recipe": {"sums": running.sums, "count": running.count, "divergence": self.watch.state()}}

    def restore(self, state: dict) -> RunningLoss:
        """See ``Recipe.restore``.

        Args:
            state: the checkpoint's JSON state.
        """
        saved = state.get("recipe") or {}
        self.watch.restore(saved.get("divergence", {}))
        return RunningLoss(dict(saved.get("sums", {name: 0.0 for name in TERMS})), int(saved.get("count", 0)))

    def card_cases(self) -> tuple[list[Case], list[Case]]:
        """See ``Recipe.card_cases``: the normal-dose cases (the validation's truth)."""
        return self.unpaired.normal_train, self.unpaired.normal_validation

    def complete_card(self, card: dict, stop_reason: str) -> None:
        """See ``Recipe.complete_card``: both domains' data and the recipe's losses, networks and watch.

        Args:
            card: the model card.
            stop_reason: why the run stopped early, or ``""``.
        """
        config, cases = self.config, self.unpaired
        card["training"]["summary"] = (
            f"unpaired: {len(cases.low_train)} low-dose scan(s) of {len({c.patient for c in cases.low_train})} "
            f"patient(s) and {len(cases.normal_train)} normal-dose scan(s) of "
            f"{len({c.patient for c in cases.normal_train})} patient(s) for training; validation on "
            f"{len(cases.normal_validation)} held-out normal-dose scan(s) with simulated {config.dose:.0%} dose")
        card["training"]["low_dose_data"] = [case.low for case in cases.low_train]
        card["training"]["low_dose_validation_data"] = [case.low for case in cases.low_validation]
        card["training"]["recipe"] = {
            "name": "unpaired", "exported": "the low -> normal generator",
            "losses": {"adversarial": "least squares", "adversarial_weight": config.adversarial_weight,
                       "cycle_weight": config.cycle_weight, "identity_weight": config.identity_weight,
                       "perceptual_weight": config.perceptual_weight},
            "feature_network": self.feature_card,
            "noise_generator": {"architecture": config.architecture, "features": config.noise_generator_features,
                                "blocks": config.noise_generator_blocks},
            "noise_level": ("each scan's estimated noise (the engine's estimator, as at inference); a generated low "
                            "dose: its added noise combined with its normal scan's" if config.noise_input else None),
            "discriminators": {"kind": "3D patch (LSGAN)", "features": config.discriminator_features,
                               "learning_rate": self.discriminator_rate},
            "patients_in_both_domains": sorted({c.patient for c in cases.normal_train}
                                               & {c.patient for c in cases.low_train}),
            "divergence": {**self.watch.state(), "stopped": stop_reason or None},
            "checkpoint_choice": "best mean PSNR on held-out normal-dose scans with simulated low dose"}

    def calibration_volumes(self) -> list[str]:
        """See ``Recipe.calibration_volumes``: the low-dose training scans (the generator's real input)."""
        return [case.low for case in self.unpaired.low_train]
