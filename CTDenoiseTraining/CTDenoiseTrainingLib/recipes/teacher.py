"""The teacher: a network of the student's architecture trained to reproduce normal dose from normal dose, so
that its intermediate features describe clean anatomy (Fu et al. 2021, TSC-Net).

The residual denoisers add their input to the output; normal -> normal through that skip is the identity from
step 0 (the output convolution starts at zero), the loss is zero and nothing would be learned. The teacher is
therefore trained with the input skip removed (``output = tail(features(x))``, what the family declares:
``models.DenoiserFamily``): its features must carry the whole
image. Its batches are the normal-dose patches of the training cases, drawn from (seed, rank, TEACHER_STEPS +
step) so they are reproducible and never the student's. Saved as ``RUN_DIR/teacher.safetensors``; its SHA-256
goes into checkpoints (a resumed run reuses it, checked) and into the model card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from CTDenoiseLib.io.atomic import atomic_write
from CTDenoiseLib.models import ModelConfig, build_model
from CTDenoiseLib.models.registry import sha256_of

from ..distributed import Context, barrier
from ..patches import PatchBatches
from .collective import average_gradients, broadcast_parameters, check_in_sync

TEACHER_STEPS = 10**9  # offset of the teacher's batch indices from the student's
TEACHER_FILE = "teacher.safetensors"


def reconstruct_without_skip(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The residual denoiser's forward without the final ``input +`` (z_upscale 1): its ``features`` (every
    module of the family, STUNet's coarse branch included) through its ``tail``.

    Args:
        model: a network of a registered family (``models.DenoiserFamily``).
        x: normalised volumes (N, 1, Z, Y, X).
    """
    return model.tail(model.features(x))


def build_teacher(model_config: ModelConfig, seed: int) -> nn.Module:
    """The teacher network, initialised from its own seed so the student's initial weights stay those of the
    plain recipe (the global torch generator is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        return build_model(model_config)


def train_teacher(model_config: ModelConfig, dataset: PatchBatches, steps: int, learning_rate: float,
                  context: Context, seed: int, log: Callable[[str], None]) -> nn.Module:
    """Train the teacher on normal-dose patches (L1 of the skip-free reconstruction), data parallel by hand.

    Args:
        model_config: the student's architecture and size.
        dataset: the student's patch batches; only their normal-dose half is used.
        steps: optimizer steps.
        learning_rate: Adam's learning rate (constant).
        context: the distributed context.
        seed: the run's seed.
        log: where progress lines go.
    """
    teacher = build_teacher(model_config, seed).to(context.device)
    broadcast_parameters(context, [teacher])
    optimizer = torch.optim.Adam(teacher.parameters(), lr=learning_rate)
    loss_sum = 0.0
    for step in range(steps):
        _, normal = dataset[TEACHER_STEPS + step]
        normal = normal.to(context.device)
        loss = F.l1_loss(reconstruct_without_skip(teacher, normal), normal)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(context, teacher.parameters())
        optimizer.step()
        loss_sum += float(loss.detach())
        if (step + 1) % max(1, steps // 5) == 0 or step + 1 == steps:
            log(f"teacher step {step + 1}/{steps}: L1 {loss_sum / (step + 1):.5f} (normal dose -> normal dose)")
    check_in_sync(context, [teacher], "teachers")
    return teacher.eval().requires_grad_(False)


def load_teacher(model_config: ModelConfig, path: Path, device: torch.device) -> nn.Module:
    """A saved teacher (tensors only), checked to be the student's architecture and size."""
    teacher = build_model(model_config)
    state = load_file(str(path))
    if set(state) != set(teacher.state_dict()):
        raise ValueError(f"teacher weights {path} are not a {model_config.architecture} with {model_config.features} "
                         f"features and {model_config.blocks} blocks")
    teacher.load_state_dict(state)
    return teacher.to(device).eval().requires_grad_(False)


def obtain_teacher(model_config: ModelConfig, run_dir: Path, weights: str, dataset: PatchBatches, steps: int,
                   learning_rate: float, context: Context, seed: int, reuse: bool,
                   log: Callable[[str], None]) -> tuple[nn.Module, dict]:
    """The teacher of this run and what the card says about it.

    Args:
        model_config: the student's architecture and size.
        run_dir: the run folder (``teacher.safetensors`` is written there by rank 0).
        weights: a user-supplied teacher file; empty: train one.
        dataset: the student's patch batches (their normal-dose half trains the teacher).
        steps: teacher training steps.
        learning_rate: the teacher's learning rate.
        context: the distributed context.
        seed: the run's seed.
        reuse: resuming: load the run's own ``teacher.safetensors`` instead of training again.
        log: where progress lines go.
    """
    saved = run_dir / TEACHER_FILE
    if weights:
        teacher = load_teacher(model_config, Path(weights), context.device)
        return teacher, {"source": str(weights), "sha256": sha256_of(Path(weights))}
    if reuse and saved.is_file():
        teacher = load_teacher(model_config, saved, context.device)
        log(f"teacher reused from {saved}")
    else:
        teacher = train_teacher(model_config, dataset, steps, learning_rate, context, seed, log)
        if context.main:
            with atomic_write(saved) as partial:
                save_file({k: v.detach().cpu().contiguous() for k, v in teacher.state_dict().items()}, str(partial))
        barrier(context)
    return teacher, {"source": f"trained in this run: {steps} steps normal dose -> normal dose, input skip removed",
                     "steps": steps, "file": str(saved), "sha256": sha256_of(saved)}
