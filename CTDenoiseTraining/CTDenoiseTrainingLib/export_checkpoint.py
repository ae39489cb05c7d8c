"""Export a kept checkpoint of a finished (or stopped) run instead of the run's ``best.safetensors``: when a
re-validation on other validation data prefers another step, or a fixed step budget is the rule (an ablation).

The card is the one the run itself would have written (``export.build_card``: the run's configuration, command,
split, history, halo study), with ``metrics.validation`` the run's validation at that step (empty when the step
was not validated) and ``training.selection`` saying which step and why. The step is never chosen here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
from safetensors.torch import load_file

from CTDenoiseLib.hu import HUNormalization
from CTDenoiseLib.models import build_model

from .checkpoint import checkpoint_folder, kept_steps, latest_checkpoint
from .config import TrainConfig, code_version
from .export import build_card, export_model, study_halo
from .prepare import prepare_cases
from .recipes import PLAIN
from .sources import load_split
from .validation import VALIDATION_SEED_OFFSET


def export_checkpoint(run_dir: Path, step: int, export_dir: Path, name: str | None = None, int8: str = "auto",
                      reason: str = "", log: Callable[[str], None] = print) -> dict:
    """Export the checkpoint of ``step`` as a registered model.

    Args:
        run_dir: the run's folder (``config.json``, ``run.json``, ``split.json``, ``checkpoints/``).
        step: the checkpoint's step; it must be kept (``checkpoint.kept_steps``).
        export_dir: the model folder to register it in.
        name: the registered name (default: the run's ``name``).
        int8: ``auto``, ``on`` or ``off``: the INT8 artefact, as in training.
        reason: why this step, recorded in the card (``training.selection.rule``).
        log: where progress lines go.

    Returns:
        What ``export.export_model`` returns, with the step.

    Raises:
        ValueError: the folder is not a run, or the step was not kept.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file() or not (run_dir / "run.json").is_file():
        raise ValueError(f"{run_dir} is not a training run folder (no config.json / run.json)")
    kept = kept_steps(run_dir / "checkpoints")
    if step not in kept:
        raise ValueError(f"no checkpoint of step {step} in {run_dir / 'checkpoints'}; kept steps: "
                         f"{', '.join(map(str, kept)) or 'none'}")
    folder = checkpoint_folder(run_dir / "checkpoints", step)
    latest = latest_checkpoint(run_dir / "checkpoints") or folder
    state = json.loads((latest / "state.json").read_text(encoding="utf-8"))  # the whole run's history
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    config = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text(encoding="utf-8")))
    module = build_model(config.model_config())
    module.load_state_dict(load_file(str(folder / "model.safetensors")))
    module.eval()
    train_cases, validation_cases = load_split(run_dir)
    normalization = HUNormalization()
    settings = config.dose_simulation()
    variants = config.simulation_variants()
    prepared = prepare_cases(validation_cases[:1], settings, len(variants), config.z_upscale,
                             config.simulation_cache(run_dir),
                             offset=VALIDATION_SEED_OFFSET, variants=variants, log=log)
    halo, measurements = study_halo(module, np.load(prepared[0].lows[0]).astype(np.float32), normalization)
    history = state["history"]
    validated = next((row for row in history if row.get("step") == step and "psnr_db" in row), {})
    metrics = {k: v for k, v in validated.items() if k != "step"}
    seconds = sum(row.get("train_seconds", 0.0) for row in history)
    card = build_card(config, run["command"], train_cases, validation_cases, settings.to_dict(), normalization,
                      halo, measurements, {**metrics, "step": step, "last_step": state["step"]}, history, seconds,
                      run["ranks"], run["device"], run["amp"], run["code"], state.get("initialised_from"))
    card["training"]["selection"] = {"chosen_step": step, "rule": reason or "chosen by the user",
                                     "validated_in_run": bool(validated)}
    card["training"]["code"]["export_commit"] = code_version()
    if config.recipe != PLAIN and state.get("recipe"):
        card["training"]["recipe"] = {"name": config.recipe, **state["recipe"]}
    name = name or config.name
    card["name"] = name
    log(f"exporting step {step} of {run_dir} as {name} (halo {halo})")
    result = export_model(module, config.model_config(), card, Path(export_dir), name,
                          [case.normal for case in train_cases], config.calibration_patch(), int8, log)
    return {**result, "step": step}
