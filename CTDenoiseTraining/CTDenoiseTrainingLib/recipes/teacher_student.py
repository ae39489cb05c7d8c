"""Teacher-student consistency with optional contrastive regularisation (Fu et al. 2021, TSC-Net), run inside
the plain training loop: same batches, same student initialisation, another optimisation step.

Loss of the student S on a batch (low, normal), with the frozen teacher T and feature space P:

    loss(S(low), normal) + consistency_weight * mean_l L1(S_l(low), T_l(normal))
                         + contrastive_weight * mean_k d(P_k(S(low)), P_k(normal)) / (d(.., normal) + d(.., low))

where l runs over ``consistency_layers``. The paper's Dynamic Enhancement Module (attention and deformable
convolution) is an architecture change and is left out: the student is the shipped STResNet or SRResNet, so
it exports, quantizes and denoises through the existing paths.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ..distributed import Context
from ..optimisation import autocast, descend
from ..patches import PatchBatches
from .feature_space import FeatureSpace, contrastive_loss, make_feature_space
from .feature_taps import check_layers, tapped
from .teacher import obtain_teacher


class TeacherStudent:
    """The recipe's own step (``paired.PairedStep``), checkpoint state and card entry.

    Args:
        student: the (inner) network being trained; its features are read with hooks.
        teacher: the frozen teacher.
        teacher_card: provenance of the teacher (source, steps, SHA-256).
        layers: module names compared between student and teacher.
        consistency_weight: weight of the feature-consistency term.
        contrastive_weight: weight of the contrastive term (0: off).
        space: the feature space of the contrastive term (None when it is off).
    """

    def __init__(self, student: torch.nn.Module, teacher: torch.nn.Module, teacher_card: dict, layers: list[str],
                 consistency_weight: float, contrastive_weight: float, space: FeatureSpace | None) -> None:
        self.student, self.teacher, self.teacher_card, self.layers = student, teacher, teacher_card, layers
        self.consistency_weight, self.contrastive_weight, self.space = consistency_weight, contrastive_weight, space
        self.sums: dict[str, float] = {}  # running sums of the loss terms since the last validation (rank 0's)
        self.count = 0

    def step(self, network: torch.nn.Module, low: torch.Tensor, normal: torch.Tensor, loss_function: Callable,
             optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, amp: str,
             device: torch.device) -> torch.Tensor:
        """One optimisation step of the student; returns the total loss.

        Args:
            network, low, normal, loss_function, optimizer, scaler, amp, device: as ``paired.PairedStep.step``
                (``network`` is the student; ``normal`` is also what the teacher reads).
        """
        with torch.no_grad():
            with tapped(self.teacher, self.layers) as teacher_features:
                self.teacher(normal)
            targets = {name: value.float() for name, value in teacher_features.items()}
        with tapped(self.student, self.layers) as student_features:
            with autocast(amp, device):
                prediction = network(low)
        pixel = loss_function(prediction, normal)
        consistency = torch.stack([F.l1_loss(student_features[name].float(), targets[name])
                                   for name in self.layers]).mean()
        loss = pixel + self.consistency_weight * consistency
        terms = {"pixel": pixel, "consistency": consistency}
        if self.space is not None and self.contrastive_weight > 0:
            contrastive = contrastive_loss(self.space, prediction.float(), normal, low[:, :1])  # image channel
            loss = loss + self.contrastive_weight * contrastive
            terms["contrastive"] = contrastive
        descend(loss, optimizer, scaler)
        for name, value in terms.items():
            self.sums[name] = self.sums.get(name, 0.0) + float(value.detach())
        self.count += 1
        return loss

    def terms(self) -> dict[str, float]:
        """Mean of each loss term since the last call (for the validation row), then start again."""
        means = {f"loss_{name}": round(total / max(1, self.count), 6) for name, total in self.sums.items()}
        self.sums, self.count = {}, 0
        return means

    def checkpoint_state(self) -> dict:
        """The teacher's SHA-256 (checked on resume) and the running sums of the loss terms."""
        return {"recipe": {"teacher_sha256": self.teacher_card["sha256"], "sums": self.sums, "count": self.count}}

    def check_resumed(self, saved: dict | None) -> None:
        """Refuse to continue a run with another teacher than the one it trained against; restore the running
        sums of the loss terms.

        Args:
            saved: the checkpoint's ``recipe`` entry.
        """
        if not saved:
            raise ValueError("cannot resume: the checkpoint holds no teacher-student state")
        if saved.get("teacher_sha256") != self.teacher_card["sha256"]:
            raise ValueError("cannot resume: the teacher differs from the one the checkpoint was trained against "
                             f"(SHA-256 {saved.get('teacher_sha256')}, now {self.teacher_card['sha256']})")
        self.sums, self.count = dict(saved.get("sums", {})), int(saved.get("count", 0))

    def card(self) -> dict:
        """What the model card records about the recipe."""
        return {"name": "teacher-student", "teacher": self.teacher_card, "consistency_layers": self.layers,
                "consistency_weight": self.consistency_weight, "contrastive_weight": self.contrastive_weight,
                "contrastive_ratio": "d+ / (d+ + d-), L1 distances" if self.space is not None else None,
                "feature_network": self.space.describe() if self.space is not None else None,
                "dynamic_enhancement_module": "left out (architecture change; the student is the plain network)"}


def make_teacher_student(config, model: torch.nn.Module, dataset: PatchBatches, context: Context, run_dir: Path,
                         reuse_teacher: bool, log: Callable[[str], None]) -> TeacherStudent:
    """Build (train or load) the teacher and the feature space for a ``teacher-student`` run (a
    ``paired.PairedStepMaker``).

    Args:
        config: the run's ``TrainConfig``.
        model: the student (inner network).
        dataset: the student's patch batches (the teacher trains on their normal-dose half).
        context: the distributed context.
        run_dir: the run folder.
        reuse_teacher: resuming: reuse the run's saved teacher.
        log: where progress lines go.
    """
    check_layers(model, config.consistency_layers)
    # The teacher reads normal dose, which has no noise level to give: a noise-conditioned student gets a blind
    # teacher of the same size (the compared features have the same shapes; only the first convolution differs).
    teacher_config = replace(config.model_config(), noise_input=False)
    teacher, teacher_card = obtain_teacher(teacher_config, run_dir, config.teacher_weights, dataset,
                                           config.teacher_steps, config.learning_rate, context, config.seed,
                                           reuse_teacher, log)
    if config.noise_input:
        teacher_card = {**teacher_card, "input": "normal dose only (blind; the student also gets the noise level)"}
    space = None
    if config.contrastive_weight > 0:
        space = make_feature_space(config.feature_network, teacher, config.consistency_layers,
                                   config.perceptual_weights, context.device)
    return TeacherStudent(model, teacher, teacher_card, list(config.consistency_layers), config.consistency_weight,
                          config.contrastive_weight, space)
