"""A small lesion classifier and its class activation maps (CAM, Zhou et al. 2016), for activation-map training.

The network is fully convolutional up to a global average pool and one linear unit, so its CAM is exact and
cheap: the linear weights applied to the last feature maps, ReLU, upsampled to the input and normalised to
[0, 1]. (CAM, not Grad-CAM: with a single linear layer after the pool the two coincide up to a scale.) Being
fully convolutional, it gives a map for a slice of any size, e.g. every slice of a training patch.

Input: HU clipped to ``WINDOW_HU`` and divided by ``SCALE_HU``, one axial slice.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WINDOW_HU = (-200.0, 200.0)
SCALE_HU = 50.0


def to_input(hu: torch.Tensor) -> torch.Tensor:
    """HU -> the classifier's input scale."""
    return hu.clamp(*WINDOW_HU) / SCALE_HU


class LesionCNN(nn.Module):
    """Four 3x3 convolutions (one strided), global average pool, one logit: lesion present.

    Args:
        features: channels of the convolutions.
    """

    def __init__(self, features: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, features, 3, padding=1), nn.ReLU(),
            nn.Conv2d(features, 2 * features, 3, padding=1, stride=2), nn.ReLU(),
            nn.Conv2d(2 * features, 2 * features, 3, padding=1), nn.ReLU(),
            nn.Conv2d(2 * features, 2 * features, 3, padding=1), nn.ReLU())
        self.classifier = nn.Linear(2 * features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) classifier input -> (N,) logits.

        Args:
            x: patches as ``to_input`` makes them.
        """
        return self.classifier(self.features(x).mean(dim=(2, 3))).squeeze(1)

    def cam(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) input -> (N, 1, H, W) class activation maps in [0, 1] (all zero where nothing fires).

        Args:
            x: patches as ``to_input`` makes them.
        """
        maps = self.features(x)
        weighted = torch.einsum("nchw,c->nhw", maps, self.classifier.weight[0]).unsqueeze(1)
        weighted = F.interpolate(F.relu(weighted), size=x.shape[-2:], mode="bilinear", align_corners=False)
        peak = weighted.amax(dim=(2, 3), keepdim=True)
        return torch.where(peak > 0, weighted / peak.clamp_min(1e-12), torch.zeros_like(weighted))


def train_classifier(patches: torch.Tensor, labels: torch.Tensor, epochs: int = 30, batch: int = 32,
                     learning_rate: float = 2e-3, seed: int = 0, features: int = 16) -> LesionCNN:
    """Train on (N, H, W) HU patches with 0/1 labels for a fixed number of epochs (no early stopping, so no
    held-out data chooses the weights); random flips and 90-degree rotations.

    Args:
        patches: HU patches.
        labels: 1 lesion present, 0 absent.
        epochs: passes over the data.
        batch: patches per step.
        learning_rate: Adam's.
        seed: initialisation and order.
        features: width of the network.
    """
    torch.manual_seed(seed)
    model = LesionCNN(features)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    x = to_input(patches.float()).unsqueeze(1)
    y = labels.float()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch):
            pick = order[start:start + batch]
            xb = torch.rot90(x[pick], int(torch.randint(0, 4, (1,), generator=generator)), (2, 3))
            if torch.rand(1, generator=generator) < 0.5:
                xb = xb.flip(3)
            loss = F.binary_cross_entropy_with_logits(model(xb), y[pick])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: LesionCNN, patches: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of patches classified right (logit > 0 means present)."""
    predictions = model(to_input(patches.float()).unsqueeze(1)) > 0
    return float((predictions == labels.bool()).float().mean())
