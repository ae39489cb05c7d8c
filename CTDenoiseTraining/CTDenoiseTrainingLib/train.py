"""The training loop: patch batches from lazily read cases, Adam with cosine decay, optional mixed precision,
DDP under torchrun, validation PSNR/SSIM on whole held-out volumes, checkpoints that resume exactly, and the
best weights exported as a registered model.

Exact resume: the batches of step s on rank r depend only on (seed, r, s) (see ``patches``), and a checkpoint
holds weights, optimizer moments, scheduler, grad scaler, torch RNG, best metrics and history; so N steps in one
go and N/2 + ``--resume`` N/2 give the same weights (same world size, same device and thread count).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import save_file

from CTDenoiseLib.evaluation.metrics import psnr, ssim
from CTDenoiseLib.evaluation.noise_estimate import estimate_noise_per_slice
from CTDenoiseLib.hu import HUNormalization
from CTDenoiseLib.inference.tiled import denoise_hu
from CTDenoiseLib.inference.tiling import Halo
from CTDenoiseLib.models import build_model, receptive_field_radius
from CTDenoiseLib.models.files import LoadedModel, load_model
from CTDenoiseLib.runtime.backends import TorchRunner

from . import distributed
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .config import TrainConfig, code_version
from .export import build_card, export_or_save, load_best, study_halo
from .grow import can_grow, grow_into
from .losses import make_loss
from .patches import PatchBatches, step_loader
from .prepare import PreparedCase, prepare_cases
from .recipes.dispatch import own_loop, paired_recipe
from .recipes.options import recipe_differences
from .reporting import ProgressBar, TensorBoard, write_csv
from .sources import gather_cases, load_split, save_split

# Changing these between a run and its resumption would silently train something else.
RESUME_MUST_MATCH = ("architecture", "features", "blocks", "z_upscale", "noise_input", "noise_level_map",
                     "noise_level_jitter", "patch", "real_pair_fraction",
                     "batch", "seed", "loss",
                     "learning_rate", "dose", "photons", "electronic_noise", "realisations", "noise_scale",
                     "kernels", "exposure_control", "slice_averaging", "pixel_zoom", "validation_noise_scales")
VALIDATION_SEED_OFFSET = 100_000  # validation cases draw other noise than any training case


def resolve_amp(mode: str, device: torch.device) -> str:
    """FP16 autocast + grad scaling on CUDA; on the CPU BF16 only on request: measured 0.8x of FP32 (slower) on
    an AVX512-BF16 EPYC (``ctdenoise train-benchmark`` measures it on yours)."""
    if device.type == "cuda":
        return "fp16" if mode == "auto" else mode
    if mode == "fp16":
        raise ValueError("amp fp16 needs a CUDA GPU; on the CPU use amp bf16 (measure it first with "
                         "`ctdenoise train-benchmark`) or off")
    return "off" if mode == "auto" else mode


def autocast(amp: str, device: torch.device):
    if amp in ("off", "fp32"):
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype={"fp16": torch.float16, "bf16": torch.bfloat16}[amp])


def optimisation_step(network: torch.nn.Module, low: torch.Tensor, normal: torch.Tensor, loss_function: Callable,
                      optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, amp: str,
                      device: torch.device) -> torch.Tensor:
    """One step of training, as run by the loop and timed by the benchmark; returns the loss."""
    with autocast(amp, device):
        prediction = network(low)
    loss = loss_function(prediction, normal)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss


VALIDATION_TILE_VOXELS = 16_000_000  # whole validation slices in few tiles: a wide in-plane halo is read once


def validate(model: torch.nn.Module, cases: list[PreparedCase], normalization: HUNormalization, halo: Halo,
             context: distributed.Context, noise_scales: tuple[float, ...] = (1.0,), per_slice_noise: bool = False
             ) -> dict:
    """Mean PSNR/SSIM (QUALITY_WINDOW, scanner padding excluded) of low dose and output over the validation
    regimes: every case, each of its simulated realisations (one per simulation variant), each noise scale.
    Each rank takes every world-th case. A z-upscaling model's input is compared slice-repeated.

    Args:
        model: the network, in training mode on return.
        cases: prepared validation cases.
        normalization: HU normalisation of the network.
        halo: tile overlap for whole-volume inference (one number, or z, y, x).
        context: the distributed context (sums over ranks).
        noise_scales: factors applied to each realisation's noise (low - normal); 1.0 is the simulated dose.
        per_slice_noise: a noise-conditioned model is told each slice's estimated level (as the engine tells a
            model whose card says ``noise_map`` ``slice``) instead of the volume's.

    Returns:
        Means over regimes, and the worst regime's PSNR gain (``psnr_gain_db_worst``).
    """
    model.eval()
    run = TorchRunner(model, str(context.device))
    sums = [0.0] * 5
    worst = np.inf
    for index, case in enumerate(cases):
        if index % context.world != context.rank:
            continue
        normal = np.load(case.normal).astype(np.float32)
        mask = normalization.in_range(normal)
        for low_path in case.lows:
            simulated = np.load(low_path).astype(np.float32)
            for scale in noise_scales:
                low = simulated if scale == 1.0 else normal + scale * (simulated - normal)
                levels = estimate_noise_per_slice(low).std_hu if per_slice_noise else None
                denoised = denoise_hu(low, run, normalization, halo, VALIDATION_TILE_VOXELS, noise_std_hu=levels)
                low_up = np.repeat(low, normal.shape[0] // low.shape[0], axis=0)
                values = (psnr(normal, low_up, mask=mask), psnr(normal, denoised, mask=mask),
                          ssim(normal, low_up, mask=mask), ssim(normal, denoised, mask=mask))
                worst = min(worst, values[1] - values[0])
                sums = [total + value for total, value in zip(sums, (1.0, *values))]
    model.train()
    count, low_psnr, out_psnr, low_ssim, out_ssim = distributed.all_sum(context, sums)
    worst = distributed.all_min(context, worst)
    low_psnr, out_psnr, low_ssim, out_ssim = (value / count for value in (low_psnr, out_psnr, low_ssim, out_ssim))
    return {"low_dose_psnr_db": low_psnr, "psnr_db": out_psnr, "psnr_gain_db": out_psnr - low_psnr,
            "low_dose_ssim": low_ssim, "ssim": out_ssim, "psnr_gain_db_worst": worst}


def _check_resumable(saved: dict, config: TrainConfig, world: int, log: Callable[[str], None]) -> None:
    defaults = TrainConfig().to_dict()  # a key added since the run started has its default there
    differ = [key for key in RESUME_MUST_MATCH
              if saved["config"].get(key, defaults.get(key)) != config.to_dict().get(key)]
    differ += recipe_differences(saved["config"], config.to_dict(), TrainConfig().to_dict())
    if differ:
        raise ValueError(f"cannot resume: {', '.join(differ)} differ from the checkpoint's configuration; "
                         "start a new --run-dir to train with other settings")
    if saved.get("world") != world:
        log(f"warning: resuming with {world} rank(s) where the run had {saved.get('world')}: training continues, "
            "but not batch for batch as the uninterrupted run would have")


def model_to_fine_tune(config: TrainConfig, normalization: HUNormalization) -> LoadedModel:
    """The registered model named by ``init_from`` (SHA-256 verified), checked to be this run's network or one
    that ``grow`` can widen and deepen into it."""
    source = load_model(config.init_from)
    wanted = config.model_config()
    if not can_grow(source.config, wanted):
        raise ValueError(f"--init-from {config.init_from} is {source.config}, but this run trains {wanted}: "
                         "give the same --architecture and --z-upscale and at least its --features and --blocks")
    if source.normalization != normalization:
        raise ValueError(f"--init-from {config.init_from} normalises HU as {source.normalization}, training uses "
                         f"{normalization}")
    return source


def initialise_from(model: torch.nn.Module, source: LoadedModel) -> dict:
    """Start ``model`` as the source model computes (``grow``: same weights, or a wider/deeper network or an added
    noise-level input that starts unused); returns the provenance recorded in the new card."""
    grow_into(model, source.module.state_dict())
    training = source.card.get("training", {})
    return {"model": source.name, "weights_sha256": source.entry.weights.sha256 if source.entry else None,
            "steps": training.get("steps"), "command": training.get("command"),
            "validation": source.card.get("metrics", {}).get("validation"),
            "size": f"{source.config.features}x{source.config.blocks}"}


def train(config: TrainConfig, command: str = "", log: Callable[[str], None] = print, resume: bool = False,
          stop_after: int | None = None) -> dict:
    """Train (or with ``resume`` continue) the run in ``config.run_dir``. ``stop_after``: checkpoint after that
    step and return without exporting (for batch jobs with a wall-time limit; continue with ``resume``)."""
    context = distributed.setup(config.device)
    try:
        run = own_loop(config.recipe) or _train  # the unpaired recipe has a loop of its own
        return run(config, command, log if context.main else (lambda _: None), resume, context, stop_after)
    finally:
        distributed.cleanup(context)


def prepare_process(config: TrainConfig, context: distributed.Context) -> str:
    """Threads per rank, the seed and the mixed-precision mode every recipe's loop starts with; returns the amp."""
    if config.threads:
        torch.set_num_threads(config.threads)
    elif context.distributed and context.device.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // context.world))
    torch.manual_seed(config.seed)
    return resolve_amp(config.amp, context.device)


def _train(config: TrainConfig, command: str, log: Callable[[str], None], resume: bool,
           context: distributed.Context, stop_after: int | None) -> dict:
    started = time.perf_counter()
    amp = prepare_process(config, context)
    loss_function = make_loss(config.loss, config.perceptual_weights)  # fails now, not after data preparation
    run_dir = Path(config.run_dir)
    checkpoints = run_dir / "checkpoints"
    latest = latest_checkpoint(checkpoints)
    if latest and not resume:
        raise ValueError(f"{run_dir} already holds checkpoints: add --resume to continue that run, "
                         "or choose a new --run-dir")
    if resume and not latest:
        log(f"no checkpoint in {checkpoints}: starting from step 0")
    normalization = HUNormalization()
    fine_tune = config.init_from and not (latest and resume)
    source = model_to_fine_tune(config, normalization) if fine_tune else None  # fails before data preparation
    split = load_split(run_dir) if latest else None
    train_cases, validation_cases = split or gather_cases(config)
    if context.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
        (run_dir / "run.json").write_text(json.dumps(
            {"code": code_version(), "command": command, "ranks": context.world, "device": str(context.device),
             "backend": context.backend, "amp": amp, "resumed_from": str(latest) if latest and resume else None},
            indent=2) + "\n", encoding="utf-8")
        save_split(run_dir, train_cases, validation_cases)
    settings = config.dose_simulation()
    cache = config.simulation_cache(run_dir)
    barrier = lambda: distributed.barrier(context)  # noqa: E731
    variants = config.simulation_variants()
    prepared_train = prepare_cases(train_cases, settings, config.realisations, config.z_upscale, cache,
                                   context.rank, context.world, barrier, log, variants=variants)
    prepared_validation = prepare_cases(validation_cases, settings, len(variants), config.z_upscale, cache,
                                        context.rank, context.world, barrier, log, offset=VALIDATION_SEED_OFFSET,
                                        variants=variants)
    log(f"data ready in {time.perf_counter() - started:.0f} s: {len(prepared_train)} training and "
        f"{len(prepared_validation)} validation case(s); {context.world} rank(s) on {context.device}, amp {amp}")

    model_config = config.model_config()
    model = build_model(model_config).to(context.device)
    initialised_from = initialise_from(model, source) if source else None
    halo = receptive_field_radius(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps,
                                                          eta_min=config.learning_rate * 0.02)
    scaler = torch.amp.GradScaler("cuda", enabled=amp == "fp16")
    best: dict = {"psnr_db": -np.inf}
    history: list[dict] = []
    since_best, start = 0, 0
    if latest and resume:
        restored = load_checkpoint(latest, model, optimizer)
        _check_resumable(restored.state, config, context.world, log)
        schedule.load_state_dict(restored.state["scheduler"])
        if restored.state["config"]["steps"] != config.steps:
            log(f"steps changed from {restored.state['config']['steps']} to {config.steps}: the cosine schedule is "
                "stretched to the new length (not what an uninterrupted run would have done)")
            schedule.T_max = config.steps
        if restored.state["scaler"]:
            scaler.load_state_dict(restored.state["scaler"])
        best, history, since_best, start = (restored.state["best"], restored.state["history"],
                                            restored.state["since_best"], restored.step)
        initialised_from = restored.state.get("initialised_from")
        running_restored = restored.state.get("running_loss", [0.0, 0])
        log(f"resumed from {latest} at step {start}")
    network = model
    if context.distributed:
        network = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[context.device.index] if context.device.type == "cuda" else None)

    dataset = PatchBatches(prepared_train, config.patch, config.batch, config.seed, context.rank, config.z_upscale,
                           normalization, noise_scale=config.noise_scale, slice_averaging=config.slice_averaging,
                           pixel_zoom=config.pixel_zoom, noise_input=config.noise_input,
                           noise_level_jitter=config.noise_level_jitter,
                           per_slice_levels=config.noise_level_map == "slice",
                           real_pair_fraction=config.real_pair_fraction)
    recipe = paired_recipe(config, model, dataset, context, run_dir, bool(latest and resume), log)  # None: plain
    if recipe and latest and resume:
        recipe.check_resumed(restored.state.get("recipe"))
    step_function = recipe.step if recipe else optimisation_step
    loader = step_loader(dataset, start, config.steps, config.workers, context.world, context.device)
    board = TensorBoard(config.tensorboard if context.main else "off", run_dir / "tensorboard", log)
    progress = ProgressBar(config.steps, start) if context.main else None
    voxels_per_step = config.batch * float(np.prod(config.patch))
    running, running_steps = running_restored if latest and resume else (0.0, 0)
    train_seconds, stopped_early, paused = 0.0, False, False
    tick = time.perf_counter()
    step = start
    for step_index, (low, normal) in zip(range(start, config.steps), loader):
        step = step_index + 1
        low = low.to(context.device, non_blocking=True)
        normal = normal.to(context.device, non_blocking=True)
        loss = step_function(network, low, normal, loss_function, optimizer, scaler, amp, context.device)
        schedule.step()
        running += float(loss.detach())
        running_steps += 1
        now = time.perf_counter()
        train_seconds += now - tick
        if progress:
            progress.update(step, running / running_steps, running_steps * voxels_per_step / max(train_seconds, 1e-9))
        if step % config.validate_every == 0 or step == config.steps:
            loss_mean = distributed.all_sum(context, [running / running_steps])[0] / context.world
            metrics = validate(model, prepared_validation, normalization, halo, context,
                               tuple(config.validation_noise_scales),
                               config.noise_input and config.noise_level_map == "slice")
            row = {"step": step, "loss": round(loss_mean, 6), "learning_rate": schedule.get_last_lr()[0],
                   "train_seconds": round(train_seconds, 2),
                   "voxels_per_second_per_rank": round(running_steps * voxels_per_step / max(train_seconds, 1e-9)),
                   **{key: round(value, 4) for key, value in metrics.items()}, **(recipe.terms() if recipe else {})}
            history.append(row)
            if progress:
                progress.newline()
            log(json.dumps(row))
            board.scalars(step, row)
            if metrics["psnr_db"] > best["psnr_db"]:
                best, since_best = {**metrics, "step": step}, 0
                if context.main:
                    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                              str(run_dir / "best.safetensors"))
            else:
                since_best += 1
            if context.main:
                write_csv(run_dir / "metrics.csv", history)
            running, running_steps, train_seconds = 0.0, 0, 0.0
            stopped_early = bool(config.early_stopping) and since_best >= config.early_stopping and step < config.steps
        paused = stop_after is not None and stop_after <= step < config.steps
        if (config.checkpoint_every and step % config.checkpoint_every == 0) or step == config.steps or stopped_early \
                or paused:
            if context.main:
                state = {"config": config.to_dict(), "world": context.world, "scheduler": schedule.state_dict(),
                         "scaler": scaler.state_dict(), "best": best, "history": history, "since_best": since_best,
                         "running_loss": [running, running_steps], "initialised_from": initialised_from,
                         **(recipe.checkpoint_state() if recipe else {})}
                save_checkpoint(checkpoints, step, model, optimizer, state, config.keep_checkpoints)
            distributed.barrier(context)
        if stopped_early:
            log(f"early stopping at step {step}: no better validation PSNR in {config.early_stopping} validations")
            break
        if paused:
            break
        tick = time.perf_counter()
    board.close()
    if paused:
        log(f"stopped after step {step} as asked; continue with --resume")
        return {"stopped_at": step, "seconds": round(time.perf_counter() - started, 1), "ranks": context.world}

    result: dict = {"best": best, "last_step": step, "seconds": round(time.perf_counter() - started, 1),
                    "amp": amp, "ranks": context.world}
    if context.main:
        if not (run_dir / "best.safetensors").is_file():  # no finite validation PSNR: export the last weights
            log("warning: no validation improved on nothing (non-finite PSNR?); exporting the last weights")
            save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                      str(run_dir / "best.safetensors"))
        model = load_best(model, run_dir)
        first_low = np.load(prepared_validation[0].lows[0]).astype(np.float32)
        chosen_halo, measurements = study_halo(model, first_low, normalization)
        card = build_card(config, command, train_cases, validation_cases, settings.to_dict(), normalization,
                          chosen_halo, measurements, {**best, "last_step": step}, history, result["seconds"],
                          context.world, str(context.device), amp, code_version(), initialised_from)
        if recipe:
            card["training"]["recipe"] = recipe.card()
        result.update(halo=chosen_halo)
        exported = export_or_save(model, config, card, run_dir, [case.normal for case in train_cases], log)
        if exported:
            result["exported"] = exported
    distributed.barrier(context)
    return result
