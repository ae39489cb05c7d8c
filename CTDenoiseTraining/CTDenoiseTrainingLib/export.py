"""Export: the best weights as a registered model (safetensors + model card + registry entry with SHA-256).

The export folder becomes visible to ``ctdenoise`` and the Slicer module without code changes when it is
``~/.ctdenoise/models`` or listed in ``CTDENOISE_MODEL_DIRS``. The INT8 artefact is made by the engine's
quantizer (``ctdenoise quantize``: OpenVINO + NNCF) when they are installed; otherwise the card says why not.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from CTDenoiseLib import __version__
from CTDenoiseLib.evaluation.metrics import QUALITY_WINDOW
from CTDenoiseLib.hu import HUNormalization
from CTDenoiseLib.inference.halo_study import choose_halo
from CTDenoiseLib.inference.tiling import Halo
from CTDenoiseLib.models import ModelConfig, receptive_field_radius
from CTDenoiseLib.models.files import save_model
from CTDenoiseLib.models.registry import REGISTRY_NAME, read_registry, register_model
from CTDenoiseLib.runtime.backends import TorchRunner

from .config import TrainConfig
from .sources import Case

HALO_RULE = ("smallest even halo whose tiled output is within 0.25 HU (max abs) of the untiled one "
             "on the central 160x160 columns of the first validation volume")


def halo_study_crop(hu: np.ndarray, side: int = 160) -> np.ndarray:
    """The central ``side`` x ``side`` columns: enough seams for the study at a fraction of its cost."""
    _, height, width = hu.shape
    y0, x0 = max(0, (height - side) // 2), max(0, (width - side) // 2)
    return hu[:, y0:y0 + side, x0:x0 + side]


def study_halo(model: torch.nn.Module, low_hu: np.ndarray, normalization: HUNormalization) -> tuple[Halo, list]:
    radius = receptive_field_radius(model)
    return choose_halo(halo_study_crop(low_hu), TorchRunner(model, "cpu"), normalization, radius)


def halo_key(halo: Halo) -> str:
    """A halo as the card's measurement key: ``"10"``, or ``"10,24,24"`` for (z, y, x)."""
    return str(halo) if isinstance(halo, int) else ",".join(str(h) for h in halo)


def make_int8(name: str, calibration: list[str], patch: tuple[int, int, int], mode: str,
              log: Callable[[str], None]) -> tuple[dict | None, str]:
    """The engine's INT8 path (OpenVINO/NNCF post-training quantization, ``ctdenoise quantize``) on a just
    registered model, calibrated on the training volumes; ``auto`` skips it with a note when it is not installed."""
    if mode == "off":
        return None, "not made (int8 off); run `ctdenoise quantize` later"
    try:
        from CTDenoiseLib.models.files import load_model
        from CTDenoiseLib.runtime.quantization import CalibrationSettings, quantize_registered

        summary = quantize_registered(load_model(name), calibration, CalibrationSettings(patches=32, patch=patch))
    except Exception as error:  # missing OpenVINO/NNCF, or a network the quantizer cannot take
        if mode == "on":
            raise ValueError(f"INT8 export failed: {error}") from error
        log(f"no INT8 artefact ({error}); make it later with `ctdenoise quantize --model {name}`")
        return None, f"not made: {error}"
    return summary, "made with `ctdenoise quantize` (OpenVINO IR, see the registry's int8 extras)"


def data_summary(train: list[Case], validation: list[Case], config: TrainConfig) -> dict:
    simulated = sum(1 for case in train if not case.low)
    return {"summary": f"{len(train)} training case(s) of {len({c.patient for c in train})} patient(s), "
                       f"{len(validation)} validation case(s) of {len({c.patient for c in validation})} patient(s); "
                       f"{simulated} with simulated {config.dose:.0%} dose, "
                       f"{len(train) - simulated} real low-dose pair(s)",
            "data": [case.normal for case in train], "low_dose_data": [case.low for case in train if case.low],
            "validation_data": [case.normal for case in validation],
            "patients": {"train": sorted({c.patient for c in train}),
                         "validation": sorted({c.patient for c in validation})}}


def build_card(config: TrainConfig, command: str, train: list[Case], validation: list[Case], simulation: dict,
               normalization: HUNormalization, halo: Halo, halo_measurements: list, best: dict, history: list,
               seconds: float, world: int, device: str, amp: str, version: dict,
               initialised_from: dict | None = None) -> dict:
    return {
        "name": config.name,
        "format": "ctdenoise-model-card/1",
        "engine_version": __version__,
        "architecture": config.architecture,
        "hu_normalization": normalization.to_dict(),
        "inference": {"halo": halo if isinstance(halo, int) else list(halo),
                      "halo_max_abs_error_hu": {halo_key(h): round(e, 4) for h, e in halo_measurements},
                      "halo_rule": HALO_RULE, "z_upscale": config.z_upscale,
                      **({"noise_map": config.noise_level_map} if config.noise_input else {})},
        "training": {**data_summary(train, validation, config), "dose": config.dose, "simulation": simulation,
                     "config": config.to_dict(), "command": command, "initialised_from": initialised_from,
                     "steps": best.get("last_step", config.steps),
                     "seconds": round(seconds, 1), "ranks": world, "device": device, "amp": amp, "code": version,
                     "hardware": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads "
                                 f"per rank, torch {torch.__version__}"},
        "metrics": {"window_hu": list(QUALITY_WINDOW), "validation": best,
                    "validation_psnr_gain_db": best.get("psnr_gain_db"), "history": history},
    }


def load_best(model: torch.nn.Module, run_dir: Path) -> torch.nn.Module:
    """``model`` holding the run's ``best.safetensors``, on the CPU in eval mode (what is exported).

    Args:
        model: the trained network (any device).
        run_dir: the run folder.
    """
    from safetensors.torch import load_file

    model = model.to("cpu")
    model.load_state_dict(load_file(str(Path(run_dir) / "best.safetensors"), device="cpu"))
    return model.eval()


def export_or_save(model: torch.nn.Module, config: TrainConfig, card: dict, run_dir: Path, calibration: list[str],
                   log: Callable[[str], None] = print) -> dict | None:
    """At the end of a run: register the model in ``config.export_dir`` (``export_model``, with the INT8 artefact
    as ``config.int8`` says), or without an export folder save weights and card in the run folder.

    Args:
        model: the network to export (CPU, eval).
        config: the run's configuration.
        card: the model card.
        run_dir: the run folder.
        calibration: volumes the INT8 export calibrates on.
        log: where progress lines go.

    Returns:
        What ``export_model`` returns; None when saved in the run folder.
    """
    if config.export_dir:
        return export_model(model, config.model_config(), card, Path(config.export_dir), config.name, calibration,
                            config.calibration_patch(), config.int8, log)
    save_model(model, config.model_config(), card, Path(run_dir), config.name)
    return None


def export_model(module: torch.nn.Module, model_config: ModelConfig, card: dict, folder: Path, name: str,
                 calibration: list[str], calibration_patch: tuple[int, int, int], int8: str = "auto",
                 log: Callable[[str], None] = print) -> dict:
    """Save weights and card, register them (SHA-256), then add the INT8 artefact where the engine can."""
    module = module.to("cpu").eval()
    weights, card_path = save_model(module, model_config, {**card, "int8": "pending"}, folder, name)
    register_model(folder, name, weights, card_path)
    log(f"exported {weights} and registered it in {folder / 'registry.json'}")
    with model_dirs_including(folder):
        summary, note = make_int8(name, calibration, calibration_patch, int8, log)
    # The card says what happened; re-register so its SHA-256 (and any INT8 extras) stay right.
    full_card = json.loads(card_path.read_text(encoding="utf-8"))
    full_card["int8"] = note
    card_path.write_text(json.dumps(full_card, indent=2) + "\n", encoding="utf-8")
    entry = next(e for e in read_registry(folder / REGISTRY_NAME) if e.name == name)
    register_model(folder, name, weights, card_path, extra={key: a.path for key, a in entry.extra.items()} or None)
    return {"weights": str(weights), "card": str(card_path), "int8": summary["files"] if summary else None}


@contextlib.contextmanager
def model_dirs_including(folder: Path):
    """Make ``folder``'s registry visible to the engine's model lookup for the duration (quantize finds it)."""
    previous = os.environ.get("CTDENOISE_MODEL_DIRS")
    os.environ["CTDENOISE_MODEL_DIRS"] = os.pathsep.join([p for p in [previous, str(folder.resolve())] if p])
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("CTDENOISE_MODEL_DIRS", None)
        else:
            os.environ["CTDENOISE_MODEL_DIRS"] = previous
