"""A fixed CT feature space for the contrastive (teacher-student) and perceptual (unpaired) losses.

Two choices, recorded in the model card: the teacher's encoder (its outputs at ``consistency_layers``, a network
trained on CT, the default), or VGG-16 ImageNet features (relu1_2, relu2_2, relu3_3 of every axial slice) from
a weights file the user supplies (``perceptual_weights``, loaded tensors-only by ``losses.load_vgg_weights``;
CTDenoise cannot download them).

Contrastive regularisation (Wu et al. 2021, AECR-Net, as used by TSC-Net) pulls the output towards the normal
dose (positive) and away from the low dose (negative) as a ratio of L1 feature distances. The original
``d+ / d-`` is unbounded where the output equals the low dose, which is exactly where our residual students start
(the identity), so we use ``d+ / (d+ + d-)``: the same direction of improvement, bounded in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import PerceptualLoss, load_vgg_weights
from .feature_taps import tapped

VGG_LAYERS = {3: "relu1_2", 8: "relu2_2", 15: "relu3_3"}  # indices in torchvision's vgg16.features


class FeatureSpace(nn.Module):
    """Frozen features of a volume as a list of tensors, one per layer."""

    def __init__(self, network: nn.Module, kind: str, layers: list[str]) -> None:
        super().__init__()
        self.network, self.kind, self.layers = network.eval().requires_grad_(False), kind, list(layers)

    def forward(self, volume: torch.Tensor) -> list[torch.Tensor]:
        """The features of each layer.

        Args:
            volume: normalised volumes (N, 1, Z, Y, X).
        """
        if self.kind == "vgg":
            x = (PerceptualLoss._slices(volume) - self.network.mean) / self.network.std
            x = x.expand(-1, 3, -1, -1)
            found = []
            for index, layer in enumerate(self.network.features):
                x = layer(x)
                if index in VGG_LAYERS:
                    found.append(x)
            return found
        with tapped(self.network, self.layers) as found:
            self.network(volume.float())
        return [found[name] for name in self.layers]

    def describe(self) -> dict:
        """What the card records of the feature space."""
        if self.kind == "vgg":
            return {"network": "VGG-16 ImageNet (user-supplied weights)", "layers": list(VGG_LAYERS.values())}
        return {"network": "teacher encoder (same architecture, trained normal dose -> normal dose)",
                "layers": self.layers}


def make_feature_space(kind: str, teacher: nn.Module | None, layers: list[str], vgg_weights: str,
                       device: torch.device) -> FeatureSpace:
    """The feature space named by ``feature_network``.

    Args:
        kind: ``teacher`` or ``vgg``.
        teacher: the trained teacher (needed for ``teacher``).
        layers: the teacher's module names to read.
        vgg_weights: VGG-16 weights file (needed for ``vgg``).
        device: where the features are computed.
    """
    if kind == "vgg":
        return FeatureSpace(load_vgg_weights(vgg_weights), "vgg", list(VGG_LAYERS.values())).to(device)
    if teacher is None:
        raise ValueError("feature_network teacher needs a teacher network")
    return FeatureSpace(teacher, "teacher", layers).to(device)


def contrastive_loss(space: FeatureSpace, output: torch.Tensor, positive: torch.Tensor,
                     negative: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Mean over layers of d(output, positive) / (d(output, positive) + d(output, negative)), d = L1.

    Args:
        space: the fixed feature space.
        output: the network's output (gradients flow into it).
        positive: the normal dose.
        negative: the low-dose input.
        eps: keeps the ratio defined where both distances vanish.
    """
    with torch.no_grad():
        positives, negatives = space(positive), space(negative)
    ratios = []
    for mine, pos, neg in zip(space(output), positives, negatives):
        near, far = F.l1_loss(mine, pos), F.l1_loss(mine, neg)
        ratios.append(near / (near + far + eps))
    return torch.stack(ratios).mean()


def perceptual_distance(space: FeatureSpace, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean over layers of the L1 distance between the features of ``a`` and of ``b`` (``b`` is the reference).

    Args:
        space: the fixed feature space.
        a: volumes that receive gradients.
        b: reference volumes.
    """
    with torch.no_grad():
        references = space(b)
    return torch.stack([F.l1_loss(mine, ref) for mine, ref in zip(space(a), references)]).mean()
