"""The unpaired recipe's loop: CycleGAN-style training on unpaired low-dose and normal-dose scans.

What stays as in the plain loop: configuration, run folder files, split by patient, the cache, validation of the
low -> normal generator on held-out normal-dose scans with simulated low dose (PSNR/SSIM, best weights kept),
exact checkpoints (all four networks and both parameter groups' Adam moments in one checkpoint, plus the
running loss sums and the divergence watch), ``--stop-after``/``--resume``, ``torchrun`` (gradients averaged by
hand, see collective.py), and the export of the low -> normal generator as a registered model whose card records
the recipe. Added: both losses logged at every validation, PNG samples in ``RUN_DIR/samples``, and the
divergence watch (warns; stops after ``divergence_patience`` validations far below the best).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import save_file

from CTDenoiseLib.hu import HUNormalization
from CTDenoiseLib.inference.tiled import denoise_hu
from CTDenoiseLib.models import receptive_field_radius
from CTDenoiseLib.runtime.backends import TorchRunner

from .. import distributed
from ..checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from ..config import TrainConfig, code_version
from ..export import build_card, export_or_save, load_best, study_halo
from ..patches import step_loader
from ..prepare import prepare_cases
from ..reporting import ProgressBar, TensorBoard, write_csv
from ..train import (
    VALIDATION_SEED_OFFSET,
    _check_resumable,
    initialise_from,
    model_to_fine_tune,
    prepare_process,
    validate,
)
from .collective import broadcast_parameters, check_in_sync
from .cycle_networks import CycleNetworks
from .cycle_step import CycleWeights, cycle_step
from .divergence import DivergenceWatch
from .feature_space import make_feature_space
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
    recipe's schedule); a plain object, so LambdaLR keeps ``total`` in its JSON state."""

    def __init__(self, total: int) -> None:
        self.total = total

    def __call__(self, step: int) -> float:
        return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * min(step, self.total) / self.total))


def _samples(nets: CycleNetworks, low_paths: list[str], validation, normalization: HUNormalization, halo: int,
             path: Path) -> None:
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


def train_unpaired(config: TrainConfig, command: str, log: Callable[[str], None], resume: bool,
                   context: distributed.Context, stop_after: int | None) -> dict:
    """Train (or continue) an unpaired run; the signature of ``train._train``."""
    started = time.perf_counter()
    amp = prepare_process(config, context)
    run_dir = Path(config.run_dir)
    checkpoints = run_dir / "checkpoints"
    latest = latest_checkpoint(checkpoints)
    if latest and not resume:
        raise ValueError(f"{run_dir} already holds checkpoints: add --resume to continue that run, "
                         "or choose a new --run-dir")
    resuming = bool(latest and resume)
    normalization = HUNormalization()
    source = model_to_fine_tune(config, normalization) if config.init_from and not resuming else None
    cases: UnpairedCases = (load_unpaired_split(run_dir) if latest else None) or gather_unpaired(config)
    if context.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
        (run_dir / "run.json").write_text(json.dumps(
            {"code": code_version(), "command": command, "ranks": context.world, "device": str(context.device),
             "backend": context.backend, "amp": amp, "recipe": config.recipe,
             "resumed_from": str(latest) if resuming else None}, indent=2) + "\n", encoding="utf-8")
        save_unpaired_split(run_dir, cases)
    settings = config.dose_simulation()
    cache = config.simulation_cache(run_dir)
    barrier = lambda: distributed.barrier(context)  # noqa: E731
    variants = config.simulation_variants()
    normal_train = prepare_volumes(cases.normal_train, cache, context.rank, context.world, barrier)
    low_train = prepare_volumes(cases.low_train, cache, context.rank, context.world, barrier)
    low_validation = prepare_volumes(cases.low_validation, cache, context.rank, context.world, barrier)
    validation = prepare_cases(cases.normal_validation, settings, len(variants), 1, cache, context.rank,
                               context.world, barrier, log, offset=VALIDATION_SEED_OFFSET, variants=variants)
    log(f"data ready in {time.perf_counter() - started:.0f} s: {len(low_train)} low-dose and {len(normal_train)} "
        f"normal-dose training scan(s), {len(validation)} validation case(s) (simulated low dose), "
        f"{len(low_validation)} held-out low-dose scan(s); {context.world} rank(s) on {context.device}, amp {amp}")

    model_config = config.model_config()
    nets = CycleNetworks(model_config, config.noise_generator_features, config.noise_generator_blocks,
                         config.discriminator_features).to(context.device)
    initialised_from = initialise_from(nets.g, source) if source else None
    broadcast_parameters(context, [nets])
    halo = receptive_field_radius(nets.g)[0]
    dataset = UnpairedBatches(low_train, normal_train, config.patch, config.batch, config.seed, context.rank,
                              normalization, config.noise_input, config.noise_level_jitter)
    space, feature_card = None, None
    if config.perceptual_weight > 0:
        teacher = None
        if config.feature_network == "teacher":
            # trained on normal dose, which has no level to give: blind, as the teacher-student recipe's
            teacher, feature_card = obtain_teacher(replace(model_config, noise_input=False), run_dir,
                                                   config.teacher_weights, dataset.normal, config.teacher_steps,
                                                   config.learning_rate, context, config.seed, resuming, log)
        space = make_feature_space(config.feature_network, teacher, config.consistency_layers,
                                   config.perceptual_weights, context.device)
        feature_card = {**space.describe(), **({"teacher": feature_card} if feature_card else
                                               {"weights": config.perceptual_weights})}
    discriminator_rate = config.discriminator_learning_rate or config.learning_rate
    optimizer = torch.optim.Adam([{"params": nets.generator_parameters(), "lr": config.learning_rate},
                                  {"params": nets.discriminator_parameters(), "lr": discriminator_rate}],
                                 betas=(0.5, 0.999))
    factor = CosineFactor(config.steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, [factor, factor])
    scaler = torch.amp.GradScaler("cuda", enabled=amp == "fp16")
    weights = CycleWeights(config.adversarial_weight, config.cycle_weight, config.identity_weight,
                           config.perceptual_weight)
    watch = DivergenceWatch(config.divergence_db, config.divergence_patience)
    best: dict = {"psnr_db": -np.inf}
    history: list[dict] = []
    sums, counted, start, since_best = {name: 0.0 for name in TERMS}, 0, 0, 0
    if resuming:
        restored = load_checkpoint(latest, nets, optimizer)
        _check_resumable(restored.state, config, context.world, log)
        schedule.load_state_dict(restored.state["scheduler"])
        if factor.total != config.steps:
            log(f"steps changed from {factor.total} to {config.steps}: the cosine schedule is stretched")
            factor.total = config.steps
        if restored.state["scaler"]:
            scaler.load_state_dict(restored.state["scaler"])
        best, history, since_best, start = (restored.state["best"], restored.state["history"],
                                            restored.state["since_best"], restored.step)
        recipe_state = restored.state.get("recipe") or {}
        sums, counted = dict(recipe_state.get("sums", sums)), int(recipe_state.get("count", 0))
        watch.restore(recipe_state.get("divergence", {}))
        initialised_from = restored.state.get("initialised_from")
        log(f"resumed from {latest} at step {start}")

    loader = step_loader(dataset, start, config.steps, config.workers, context.world, context.device)
    board = TensorBoard(config.tensorboard if context.main else "off", run_dir / "tensorboard", log)
    progress = ProgressBar(config.steps, start) if context.main else None
    voxels_per_step = config.batch * float(np.prod(config.patch))
    train_seconds, stop_reason, paused, step = 0.0, "", False, start
    tick = time.perf_counter()
    for step_index, (low, normal) in zip(range(start, config.steps), loader):
        step = step_index + 1
        terms = cycle_step(nets, low.to(context.device), normal.to(context.device), weights, space, optimizer,
                           scaler, amp, context)
        schedule.step()
        values = {name: float(value) for name, value in terms.items()}
        stop_reason = watch.losses(step, values) or ""
        if distributed.all_sum(context, [1.0 if stop_reason else 0.0])[0] and not stop_reason:
            stop_reason = f"diverged at step {step}: non-finite loss on another rank"  # all ranks stop together
        for name in TERMS:
            sums[name] += values[name]
        counted += 1
        train_seconds += time.perf_counter() - tick
        if progress:
            progress.update(step, sums["generator"] / counted, counted * voxels_per_step / max(train_seconds, 1e-9))
        if not stop_reason and (step % config.validate_every == 0 or step == config.steps):
            means = distributed.all_sum(context, [sums[name] / counted for name in TERMS])
            losses = {f"loss_{name}": round(total / context.world, 6) for name, total in zip(TERMS, means)}
            metrics = validate(nets.g, validation, normalization, halo, context, tuple(config.validation_noise_scales))
            row = {"step": step, "loss": losses["loss_generator"], **losses,
                   "learning_rate": schedule.get_last_lr()[0], "train_seconds": round(train_seconds, 2),
                   "voxels_per_second_per_rank": round(counted * voxels_per_step / max(train_seconds, 1e-9)),
                   **{key: round(value, 4) for key, value in metrics.items()}}
            history.append(row)
            if progress:
                progress.newline()
            log(json.dumps(row))
            board.scalars(step, row)
            warnings, diverged = watch.validation(step, metrics["psnr_db"], best["psnr_db"],
                                                  losses["loss_discriminator"], metrics["psnr_gain_db"])
            for warning in warnings:
                log(warning)
            if context.main:
                _samples(nets, [case.normal for case in low_validation or low_train], validation, normalization, halo,
                         run_dir / "samples" / f"step-{step:08d}.png")
            if metrics["psnr_db"] > best["psnr_db"]:
                best, since_best = {**metrics, "step": step}, 0
                if context.main:
                    save_file({k: v.detach().cpu().contiguous() for k, v in nets.g.state_dict().items()},
                              str(run_dir / "best.safetensors"))
            else:
                since_best += 1
            if context.main:
                write_csv(run_dir / "metrics.csv", history)
            sums, counted, train_seconds = {name: 0.0 for name in TERMS}, 0, 0.0
            if diverged:
                stop_reason = (f"diverging: {watch.in_a_row} validations in a row more than {config.divergence_db} dB "
                               "below the best PSNR")
            elif config.early_stopping and since_best >= config.early_stopping and step < config.steps:
                stop_reason = f"early stopping: no better validation PSNR in {config.early_stopping} validations"
        paused = stop_after is not None and stop_after <= step < config.steps and not stop_reason
        if (config.checkpoint_every and step % config.checkpoint_every == 0) or step == config.steps or paused \
                or (stop_reason and "non-finite" not in stop_reason):
            check_in_sync(context, [nets], "networks")
            if context.main:
                state = {"config": config.to_dict(), "world": context.world, "scheduler": schedule.state_dict(),
                         "scaler": scaler.state_dict(), "best": best, "history": history, "since_best": since_best,
                         "initialised_from": initialised_from,
                         "recipe": {"sums": sums, "count": counted, "divergence": watch.state()}}
                save_checkpoint(checkpoints, step, nets, optimizer, state, config.keep_checkpoints)
            distributed.barrier(context)
        if stop_reason or paused:
            break
        tick = time.perf_counter()
    board.close()
    if stop_reason:
        log(f"stopped at step {step}: {stop_reason}; the best weights so far are exported")
    if paused:
        log(f"stopped after step {step} as asked; continue with --resume")
        return {"stopped_at": step, "seconds": round(time.perf_counter() - started, 1), "ranks": context.world}
    result: dict = {"best": best, "last_step": step, "seconds": round(time.perf_counter() - started, 1), "amp": amp,
                    "ranks": context.world, "stopped": stop_reason or None}
    if context.main:
        if not (run_dir / "best.safetensors").is_file():
            raise ValueError(f"no validation finished before the run stopped ({stop_reason}): nothing to export")
        model = load_best(nets.g, run_dir)
        chosen_halo, measurements = study_halo(model, np.load(validation[0].lows[0]).astype(np.float32), normalization)
        card = build_card(config, command, cases.normal_train, cases.normal_validation, settings.to_dict(),
                          normalization, chosen_halo, measurements, {**best, "last_step": step}, history,
                          result["seconds"], context.world, str(context.device), amp, code_version(), initialised_from)
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
            "feature_network": feature_card,
            "noise_generator": {"architecture": config.architecture, "features": config.noise_generator_features,
                                "blocks": config.noise_generator_blocks},
            "noise_level": ("each scan's estimated noise (the engine's estimator, as at inference); a generated low "
                            "dose: its added noise combined with its normal scan's" if config.noise_input else None),
            "discriminators": {"kind": "3D patch (LSGAN)", "features": config.discriminator_features,
                               "learning_rate": discriminator_rate},
            "patients_in_both_domains": sorted({c.patient for c in cases.normal_train}
                                               & {c.patient for c in cases.low_train}),
            "divergence": {**watch.state(), "stopped": stop_reason or None},
            "checkpoint_choice": "best mean PSNR on held-out normal-dose scans with simulated low dose"}
        result.update(halo=chosen_halo)
        exported = export_or_save(model, config, card, run_dir, [case.low for case in cases.low_train], log)
        if exported:
            result["exported"] = exported
    distributed.barrier(context)
    return result
