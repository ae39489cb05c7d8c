"""Export: the best weights as a registered model (safetensors + model card + registry entry with SHA-256).

The export folder becomes visible to ``ctdenoise`` and the Slicer module without code changes when it is
``~/.ctdenoise/models`` or listed in ``CTDENOISE_MODEL_DIRS``. An INT8 artefact is added when the engine offers
``CTDenoiseLib.quantization.export_int8(module, config, folder, stem) -> Path``; until then the card says why not.
"""

from __future__ import annotations

import importlib
import platform
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from CTDenoiseLib import __version__
from CTDenoiseLib.backends import TorchRunner
from CTDenoiseLib.halo_study import choose_halo
from CTDenoiseLib.hu import HUNormalization
from CTDenoiseLib.metrics import QUALITY_WINDOW
from CTDenoiseLib.model_files import save_model
from CTDenoiseLib.models import ModelConfig, receptive_field_radius
from CTDenoiseLib.registry import register_model

from .config import TrainConfig
from .sources import Case

HALO_RULE = ("smallest even halo whose tiled output is within 0.25 HU (max abs) of the untiled one "
             "on the central 160x160 columns of the first validation volume")


def halo_study_crop(hu: np.ndarray, side: int = 160) -> np.ndarray:
    """The central ``side`` x ``side`` columns: enough seams for the study at a fraction of its cost."""
    _, height, width = hu.shape
    y0, x0 = max(0, (height - side) // 2), max(0, (width - side) // 2)
    return hu[:, y0:y0 + side, x0:x0 + side]


def study_halo(model: torch.nn.Module, low_hu: np.ndarray, normalization: HUNormalization) -> tuple[int, list]:
    radius = receptive_field_radius(model)[0]
    return choose_halo(halo_study_crop(low_hu), TorchRunner(model, "cpu"), normalization, radius)


def int8_export(module: torch.nn.Module, config: ModelConfig, folder: Path, stem: str) -> tuple[Path | None, str]:
    try:
        quantization = importlib.import_module("CTDenoiseLib.quantization")
        export = getattr(quantization, "export_int8")
    except (ImportError, AttributeError):
        return None, "not exported: this engine version has no INT8 export (CTDenoiseLib.quantization.export_int8)"
    return Path(export(module, config, folder, stem)), "exported"


def data_summary(train: list[Case], validation: list[Case], config: TrainConfig) -> dict:
    simulated = sum(1 for case in train if not case.low)
    return {"summary": f"{len(train)} training case(s) of {len({c.patient for c in train})} patient(s), "
                       f"{len(validation)} validation case(s) of {len({c.patient for c in validation})} patient(s); "
                       f"{simulated} with simulated {config.dose:.0%} dose, {len(train) - simulated} real low-dose pair(s)",
            "data": [case.normal for case in train], "low_dose_data": [case.low for case in train if case.low],
            "validation_data": [case.normal for case in validation],
            "patients": {"train": sorted({c.patient for c in train}), "validation": sorted({c.patient for c in validation})}}


def build_card(config: TrainConfig, command: str, train: list[Case], validation: list[Case], simulation: dict,
               normalization: HUNormalization, halo: int, halo_measurements: list, best: dict, history: list,
               seconds: float, world: int, device: str, amp: str, version: dict) -> dict:
    return {
        "name": config.name,
        "format": "ctdenoise-model-card/1",
        "engine_version": __version__,
        "architecture": config.architecture,
        "hu_normalization": normalization.to_dict(),
        "inference": {"halo": halo, "halo_max_abs_error_hu": {str(h): round(e, 4) for h, e in halo_measurements},
                      "halo_rule": HALO_RULE, "z_upscale": config.z_upscale},
        "training": {**data_summary(train, validation, config), "dose": config.dose, "simulation": simulation,
                     "config": config.to_dict(), "command": command, "steps": best.get("last_step", config.steps),
                     "seconds": round(seconds, 1), "ranks": world, "device": device, "amp": amp, "code": version,
                     "hardware": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads "
                                 f"per rank, torch {torch.__version__}"},
        "metrics": {"window_hu": list(QUALITY_WINDOW), "validation": best,
                    "validation_psnr_gain_db": best.get("psnr_gain_db"), "history": history},
    }


def export_model(module: torch.nn.Module, model_config: ModelConfig, card: dict, folder: Path, name: str,
                 log: Callable[[str], None] = print) -> dict:
    """Save, add the INT8 artefact where possible, register; returns the paths."""
    module = module.to("cpu").eval()
    int8_path, int8_note = int8_export(module, model_config, folder, name) if folder else (None, "")
    card = {**card, "int8": int8_note}
    weights, card_path = save_model(module, model_config, card, folder, name)
    register_model(folder, name, weights, card_path, extra={"int8": int8_path} if int8_path else None)
    log(f"exported {weights} and registered it in {folder / 'registry.json'}"
        f"{'' if int8_path else ' (no INT8 artefact: ' + int8_note + ')'}")
    return {"weights": str(weights), "card": str(card_path), "int8": str(int8_path) if int8_path else None}
