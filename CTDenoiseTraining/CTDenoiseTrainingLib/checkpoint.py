"""Training state on disk without pickles: tensors in safetensors, everything else in JSON.

A checkpoint is a folder ``checkpoints/step-00000100/`` holding ``model.safetensors`` (weights),
``optimizer.safetensors`` (the optimizer's per-parameter tensors and the torch RNG states) and ``state.json``
(step, optimizer hyper-parameters, scheduler, grad scaler, best metrics, history, configuration). It is written
to a temporary folder and renamed, then ``checkpoints/latest.json`` is replaced: a crash never leaves a
half-written checkpoint as the latest. Nothing is ever loaded with pickle.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from CTDenoiseLib.io.atomic import atomic_write, write_text_atomic

LATEST = "latest.json"


@dataclass
class TrainingState:
    step: int
    state: dict  # JSON: scheduler, scaler, best, history, early-stopping counter, config


def _plain(module_state: dict) -> dict[str, torch.Tensor]:
    return {key: value.detach().to("cpu").contiguous() for key, value in module_state.items()}


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{name}"] = value.detach().to("cpu").contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], info: dict) -> None:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("state."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for key, value in info["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    groups = [{**group, "betas": tuple(group["betas"])} if "betas" in group else group
              for group in info["param_groups"]]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def checkpoint_folder(folder: Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives in a run's ``checkpoints`` folder."""
    return Path(folder) / f"step-{step:08d}"


def save_checkpoint(folder: Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    state: dict, keep: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = checkpoint_folder(folder, step)
    with atomic_write(target, folder / f".{target.name}.partial") as partial:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        save_file(_plain(model.state_dict()), str(partial / "model.safetensors"))
        tensors, info = optimizer_tensors(optimizer)
        tensors["rng.torch"] = torch.get_rng_state()
        if torch.cuda.is_available():
            tensors["rng.cuda"] = torch.cuda.get_rng_state()
        save_file(tensors, str(partial / "optimizer.safetensors"))
        (partial / "state.json").write_text(json.dumps({"step": step, "optimizer": info, **state}, indent=1) + "\n",
                                            encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)  # a folder is replaced only when empty
    write_text_atomic(folder / LATEST, json.dumps({"step": step, "folder": target.name}) + "\n")
    steps = sorted(p for p in folder.glob("step-*") if p.is_dir())
    for old in steps[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return target


def kept_steps(folder: Path) -> list[int]:
    """The steps of the checkpoints kept in a run's ``checkpoints`` folder, oldest first."""
    return sorted(int(path.name.split("-")[1]) for path in Path(folder).glob("step-*")
                  if (path / "model.safetensors").is_file())


def latest_checkpoint(folder: Path) -> Path | None:
    pointer = folder / LATEST
    if not pointer.is_file():
        return None
    target = folder / json.loads(pointer.read_text(encoding="utf-8"))["folder"]
    return target if (target / "state.json").is_file() else None


def load_checkpoint(target: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> TrainingState:
    """Restore weights, optimizer and RNG in place; returns the step and the JSON state for the rest."""
    state = json.loads((target / "state.json").read_text(encoding="utf-8"))
    device = next(model.parameters()).device
    model.load_state_dict({k: v.to(device) for k, v in load_file(str(target / "model.safetensors")).items()})
    tensors = load_file(str(target / "optimizer.safetensors"))
    restore_optimizer(optimizer, tensors, state.pop("optimizer"))
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return TrainingState(step=int(state.pop("step")), state=state)
