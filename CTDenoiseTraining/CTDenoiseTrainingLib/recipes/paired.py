"""The paired recipes: one network learns normal dose from (simulated or real) low dose of the same scan. The plain
recipe takes the pixel-loss step (``optimisation.optimisation_step``); teacher-student and activation-map take
their own (``PairedStep``) on the same cases, batches and network."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

import torch
from torch.utils.data import Dataset

from CTDenoiseLib.hu import HUNormalization
from CTDenoiseLib.models import build_model, receptive_field_radius
from CTDenoiseLib.models.files import LoadedModel

from .. import distributed
from ..config import TrainConfig
from ..fine_tune import initialise_from
from ..losses import make_loss
from ..optimisation import optimisation_step
from ..patches import PatchBatches
from ..prepare import PreparedCase, prepare_cases
from ..running_loss import RunningLoss
from ..sources import Case, gather_cases, load_split, save_split
from ..validation import VALIDATION_SEED_OFFSET
from .protocol import Optimisation, Recipe


class PairedStep(Protocol):
    """A paired recipe's own optimisation step, with what it adds to the history, the checkpoint and the card."""

    def step(self, network: torch.nn.Module, low: torch.Tensor, normal: torch.Tensor, loss_function: Callable,
             optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, amp: str,
             device: torch.device) -> torch.Tensor:
        """One optimisation step (the signature of ``optimisation.optimisation_step``); returns the loss.

        Args:
            network: the network (DDP-wrapped under torchrun).
            low: the input patches.
            normal: the target patches.
            loss_function: the run's pixel loss.
            optimizer: the network's optimiser.
            scaler: the gradient scaler.
            amp: the resolved mixed-precision mode.
            device: where the network runs.
        """

    def terms(self) -> dict:
        """Columns of the history row (the step's own terms since the last call), then start again."""

    def checkpoint_state(self) -> dict:
        """What checkpoints hold of the step (under ``recipe``)."""

    def check_resumed(self, saved: dict | None) -> None:
        """Refuse a checkpoint made with another setup of the step; restore its running state.

        Args:
            saved: the checkpoint's ``recipe`` entry.
        """

    def card(self) -> dict:
        """What the model card records of the step (``training.recipe``)."""


PairedStepMaker = Callable[..., PairedStep]  # (config, model, dataset, context, run_dir, resuming, log)


class PairedRecipe(Recipe):
    """The plain recipe, or with ``make_step`` teacher-student or activation-map.

    Args:
        config: the run's configuration.
        context: the distributed context.
        amp: the resolved mixed-precision mode.
        make_step: builds the recipe's own step once the network and batches exist; None: the plain step.
    """

    def __init__(self, config: TrainConfig, context: distributed.Context, amp: str,
                 make_step: PairedStepMaker | None = None) -> None:
        self.config, self.context, self.amp, self.make_step = config, context, amp, make_step
        self.loss_function = make_loss(config.loss, config.perceptual_weights)  # fails now, not after data preparation
        self.normalization = HUNormalization()
        self.per_slice_noise = config.noise_input and config.noise_level_map == "slice"
        self.own_step: PairedStep | None = None
        self.train_cases: list[Case] = []
        self.validation_cases: list[Case] = []
        self.validation: list[PreparedCase] = []

    def cases(self, run_dir: Path, saved: bool) -> None:
        """See ``Recipe.cases``.

        Args:
            run_dir: the run folder.
            saved: the run continues from a checkpoint, so its split is saved.
        """
        split = load_split(run_dir) if saved else None
        self.train_cases, self.validation_cases = split or gather_cases(self.config)

    def prepare(self, run_dir: Path, context: distributed.Context, log: Callable[[str], None]) -> str:
        """See ``Recipe.prepare``.

        Args:
            run_dir: the run folder.
            context: the distributed context.
            log: where progress lines go.
        """
        config, self.run_dir = self.config, run_dir
        if context.main:
            save_split(run_dir, self.train_cases, self.validation_cases)
        settings, cache, variants = config.dose_simulation(), config.simulation_cache(run_dir), \
            config.simulation_variants()
        barrier = lambda: distributed.barrier(context)  # noqa: E731
        self.train = prepare_cases(self.train_cases, settings, config.realisations, config.z_upscale, cache,
                                   context.rank, context.world, barrier, log, variants=variants)
        self.validation = prepare_cases(self.validation_cases, settings, len(variants), config.z_upscale, cache,
                                        context.rank, context.world, barrier, log, offset=VALIDATION_SEED_OFFSET,
                                        variants=variants)
        return f"{len(self.train)} training and {len(self.validation)} validation case(s)"

    def build(self, context: distributed.Context, source: LoadedModel | None) -> dict | None:
        """See ``Recipe.build``: the network (Adam, cosine decay to 2 % of the learning rate).

        Args:
            context: the distributed context.
            source: the registered model to start from, or None.
        """
        config = self.config
        self.module = self.generator = build_model(config.model_config()).to(context.device)
        initialised = initialise_from(self.module, source) if source else None
        self.halo = receptive_field_radius(self.module)
        optimizer = torch.optim.Adam(self.module.parameters(), lr=config.learning_rate)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps,
                                                              eta_min=config.learning_rate * 0.02)

        def stretch(steps: int) -> None:
            schedule.T_max = steps

        self.optimisation = Optimisation(optimizer, schedule, torch.amp.GradScaler("cuda", enabled=self.amp == "fp16"),
                                         stretch)
        return initialised

    def start(self, context: distributed.Context, resuming: bool, log: Callable[[str], None]) -> Dataset:
        """See ``Recipe.start``: the DDP wrapper under torchrun, the patch batches, the recipe's own step.

        Args:
            context: the distributed context.
            resuming: the run continues from a checkpoint.
            log: where progress lines go.
        """
        config = self.config
        self.network = self.module
        if context.distributed:
            self.network = torch.nn.parallel.DistributedDataParallel(
                self.module, device_ids=[context.device.index] if context.device.type == "cuda" else None)
        dataset = PatchBatches(self.train, config.patch, config.batch, config.seed, context.rank, config.z_upscale,
                               self.normalization, noise_scale=config.noise_scale,
                               slice_averaging=config.slice_averaging, pixel_zoom=config.pixel_zoom,
                               noise_input=config.noise_input, noise_level_jitter=config.noise_level_jitter,
                               per_slice_levels=config.noise_level_map == "slice",
                               real_pair_fraction=config.real_pair_fraction)
        if self.make_step is not None:
            self.own_step = self.make_step(config, self.module, dataset, context, self.run_dir, resuming, log)
        return dataset

    def step(self, low: torch.Tensor, normal: torch.Tensor) -> dict[str, float]:
        """See ``Recipe.step``: the plain step or the recipe's own; one term, ``loss``.

        Args:
            low: the input patches.
            normal: the target patches.
        """
        take = self.own_step.step if self.own_step else optimisation_step
        optimisation = self.optimisation
        loss = take(self.network, low, normal, self.loss_function, optimisation.optimizer, optimisation.scaler,
                    self.amp, self.context.device)
        return {"loss": float(loss.detach())}

    def extra_columns(self) -> dict:
        """See ``Recipe.extra_columns``: the recipe's own step's terms."""
        return self.own_step.terms() if self.own_step else {}

    def checkpoint_state(self, running: RunningLoss) -> dict:
        """See ``Recipe.checkpoint_state``: ``running_loss`` [sum, steps] and the own step's ``recipe`` entry.

        Args:
            running: the loss summed since the last validation.
        """
        return {"running_loss": [running.sums.get("loss", 0.0), running.count],
                **(self.own_step.checkpoint_state() if self.own_step else {})}

    def restore(self, state: dict) -> RunningLoss:
        """See ``Recipe.restore``.

        Args:
            state: the checkpoint's JSON state.
        """
        if self.own_step:
            self.own_step.check_resumed(state.get("recipe"))
        total, count = state.get("running_loss", [0.0, 0])
        return RunningLoss({"loss": total}, count)

    def card_cases(self) -> tuple[list[Case], list[Case]]:
        """See ``Recipe.card_cases``."""
        return self.train_cases, self.validation_cases

    def complete_card(self, card: dict, stop_reason: str) -> None:
        """See ``Recipe.complete_card``: the own step's entry.

        Args:
            card: the model card.
            stop_reason: why the run stopped early, or ``""``.
        """
        if self.own_step:
            card["training"]["recipe"] = self.own_step.card()

    def calibration_volumes(self) -> list[str]:
        """See ``Recipe.calibration_volumes``: the training cases' normal-dose volumes."""
        return [case.normal for case in self.train_cases]
