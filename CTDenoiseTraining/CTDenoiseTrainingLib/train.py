"""The training loop: random patch pairs, L1/MSE loss, Adam with cosine decay, validation PSNR on held-out
volumes, and the best checkpoint exported as a registered model."""

from __future__ import annotations

import copy
import csv
import json
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from CTDenoiseLib import __version__
from CTDenoiseLib.backends import TorchRunner
from CTDenoiseLib.halo_study import choose_halo
from CTDenoiseLib.hu import HUNormalization
from CTDenoiseLib.inference import denoise_hu
from CTDenoiseLib.metrics import QUALITY_WINDOW, psnr, ssim
from CTDenoiseLib.model_files import save_model
from CTDenoiseLib.models import ModelConfig, build_model, receptive_field_radius
from CTDenoiseLib.registry import register_model
from CTDenoiseLib.simulation import DoseSimulation

from .config import TrainConfig
from .data import Pair, PatchSampler, load_pairs

LOSSES = {"l1": torch.nn.functional.l1_loss, "mse": torch.nn.functional.mse_loss}


def validate(model: torch.nn.Module, pairs: list[Pair], normalization: HUNormalization, halo: int) -> dict:
    """Mean PSNR/SSIM (window QUALITY_WINDOW, scanner padding excluded) of low dose and of the output."""
    model.eval()
    run = TorchRunner(model, "cpu")
    rows = []
    for pair in pairs:
        low_hu = normalization.denormalise(pair.low)
        denoised = denoise_hu(low_hu, run, normalization, halo)
        mask = normalization.in_range(pair.hu_normal)
        rows.append((psnr(pair.hu_normal, low_hu, mask=mask), psnr(pair.hu_normal, denoised, mask=mask),
                     ssim(pair.hu_normal, low_hu, mask=mask), ssim(pair.hu_normal, denoised, mask=mask)))
    model.train()
    low_psnr, out_psnr, low_ssim, out_ssim = (float(np.mean(column)) for column in zip(*rows))
    return {"low_dose_psnr_db": low_psnr, "psnr_db": out_psnr, "psnr_gain_db": out_psnr - low_psnr,
            "low_dose_ssim": low_ssim, "ssim": out_ssim}


def halo_study_crop(hu: np.ndarray, side: int = 160) -> np.ndarray:
    """The central ``side`` x ``side`` columns: enough seams for the study at a fraction of its cost."""
    _, height, width = hu.shape
    y0, x0 = max(0, (height - side) // 2), max(0, (width - side) // 2)
    return hu[:, y0:y0 + side, x0:x0 + side]


def train(config: TrainConfig, command: str = "", log: Callable[[str], None] = print) -> dict:
    if not config.train or not config.validation:
        raise ValueError("training needs at least one training and one validation volume")
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
    normalization = HUNormalization()
    settings = DoseSimulation(dose=config.dose, photons=config.photons, electronic_noise=config.electronic_noise,
                              seed=config.seed)
    cache = run_dir.parent / "simulation-cache"
    train_pairs = load_pairs(config.train, settings, config.realisations, normalization, cache)
    validation_settings = DoseSimulation(**{**settings.to_dict(), "seed": config.seed + 7})
    validation_pairs = load_pairs(config.validation, validation_settings, 1, normalization, cache)
    log(f"data ready in {time.perf_counter() - started:.0f} s: {len(train_pairs)} training pairs, "
        f"{len(validation_pairs)} validation volume(s)")

    model_config = ModelConfig(config.architecture, config.features, config.blocks)
    model = build_model(model_config)
    halo = receptive_field_radius(model)[0]
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps, eta_min=config.learning_rate * 0.02)
    sampler = PatchSampler(train_pairs, config.patch, seed=config.seed)
    loss_function = LOSSES[config.loss]
    best: dict = {"psnr_db": -np.inf}
    best_state = copy.deepcopy(model.state_dict())
    history = []
    running, tick = 0.0, time.perf_counter()
    for step in range(1, config.steps + 1):
        low, normal = (torch.from_numpy(array) for array in sampler.batch(config.batch))
        loss = loss_function(model(low), normal)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        running += float(loss.detach())
        if step % config.validate_every == 0 or step == config.steps:
            seconds = time.perf_counter() - tick
            metrics = validate(model, validation_pairs, normalization, halo)
            row = {"step": step, "loss": running / config.validate_every, "seconds": round(seconds, 1),
                   "voxels_per_second": round(config.validate_every * config.batch * float(np.prod(config.patch)) / seconds),
                   **{key: round(value, 4) for key, value in metrics.items()}}
            history.append(row)
            log(json.dumps(row))
            if metrics["psnr_db"] > best["psnr_db"]:
                best, best_state = {**metrics, "step": step}, copy.deepcopy(model.state_dict())
            running, tick = 0.0, time.perf_counter()
    with open(run_dir / "metrics.csv", "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    model.load_state_dict(best_state)
    model.eval()
    chosen_halo, halo_measurements = choose_halo(halo_study_crop(normalization.denormalise(validation_pairs[0].low)),
                                                 TorchRunner(model, "cpu"), normalization, halo)
    result = {"best": best, "halo": chosen_halo, "halo_measurements": halo_measurements,
              "seconds": round(time.perf_counter() - started, 1)}
    card = {
        "name": config.name,
        "format": "ctdenoise-model-card/1",
        "engine_version": __version__,
        "architecture": config.architecture,
        "hu_normalization": normalization.to_dict(),
        "inference": {"halo": chosen_halo, "halo_max_abs_error_hu": dict((str(h), round(e, 4)) for h, e in halo_measurements),
                      "halo_rule": "smallest even halo whose tiled output is within 0.25 HU (max abs) of the untiled one "
                                   "on the central 160x160 columns of the first validation volume"},
        "training": {"summary": ", ".join(Path(path).name for path in config.train), "data": config.train,
                     "validation_data": config.validation, "dose": config.dose, "simulation": settings.to_dict(),
                     "config": config.to_dict(), "command": command, "steps": config.steps,
                     "seconds": result["seconds"], "hardware": f"{platform.processor() or platform.machine()}, "
                     f"{torch.get_num_threads()} threads, torch {torch.__version__}"},
        "metrics": {"window_hu": list(QUALITY_WINDOW), "validation": best,
                    "validation_psnr_gain_db": best["psnr_gain_db"], "history": history},
    }
    if config.export_dir:
        folder = Path(config.export_dir)
        weights, card_path = save_model(model, model_config, card, folder, config.name)
        register_model(folder, config.name, weights, card_path)
        result["exported"] = str(weights)
        log(f"exported {weights} and registered it in {folder / 'registry.json'}")
    else:
        save_model(model, model_config, card, run_dir, config.name)
    return result
