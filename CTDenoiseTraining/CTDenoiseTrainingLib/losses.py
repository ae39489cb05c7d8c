"""Training losses on normalised volumes (air 0, water 1): L1, MSE, 3D SSIM, a VGG-16 perceptual loss, and
weighted sums of them written as ``"l1+0.2*ssim"``.

SSIM uses the constants and window of the reported metric (Gaussian sigma 1.5 voxels, K1 0.01, K2 0.03, data
range that of ``QUALITY_WINDOW``). The perceptual loss compares VGG-16 ImageNet features (up to relu3_3) of
axial slices; CTDenoise cannot download those weights, so they are given as a file (torchvision's
``vgg16-397923af.pth`` state dict or a safetensors copy) and the loss refuses to start without them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from CTDenoiseLib.evaluation.metrics import QUALITY_WINDOW

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
DATA_RANGE = (QUALITY_WINDOW[1] - QUALITY_WINDOW[0]) / 1000.0  # in normalised units
NAMES = ("l1", "mse", "ssim", "perceptual")


def _gaussian(sigma: float, radius: int, device: torch.device) -> torch.Tensor:
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian over (Z, Y, X), valid region only; the window shrinks on axes shorter than it."""
    for axis in range(3):
        size = x.shape[2 + axis]
        radius = max(0, min(int(3.5 * sigma + 0.5), (size - 1) // 2))
        if radius == 0:
            continue
        shape = [1, 1, 1, 1, 1]
        shape[2 + axis] = 2 * radius + 1
        x = F.conv3d(x, _gaussian(sigma, radius, x.device).view(shape))
    return x


def ssim_3d(x: torch.Tensor, y: torch.Tensor, sigma: float = 1.5, data_range: float = DATA_RANGE) -> torch.Tensor:
    x, y = x.float(), y.float()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = _blur(x, sigma), _blur(y, sigma)
    vx, vy, cxy = _blur(x * x, sigma) - mx * mx, _blur(y * y, sigma) - my * my, _blur(x * y, sigma) - mx * my
    return (((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))).mean()


def ssim_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return 1.0 - ssim_3d(prediction, target)


VGG16_RELU3_3 = (64, 64, "M", 128, 128, "M", 256, 256, 256)  # torchvision's features[0:16]


class VGGFeatures(nn.Module):
    """VGG-16 ``features`` up to relu3_3 with torchvision's parameter names, built without torchvision."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in VGG16_RELU3_3:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=False)]
                channels = int(item)
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, slices: torch.Tensor) -> torch.Tensor:
        """VGG-16 features up to relu3_3 of grey slices (repeated to RGB, ImageNet-normalised).

        Args:
            slices: (N, 1, H, W) in [0, 1].
        """
        return self.features((slices.expand(-1, 3, -1, -1) - self.mean) / self.std)


def load_vgg_weights(path: str) -> VGGFeatures:
    if not path:
        raise ValueError("the perceptual loss needs VGG-16 ImageNet weights, which CTDenoise cannot download: give "
                         "--perceptual-weights PATH (torchvision's vgg16-397923af.pth or a safetensors copy of it), "
                         "or use --loss l1, mse or ssim")
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"perceptual loss weights not found: {file}")
    if file.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(file))
    else:
        state = torch.load(file, map_location="cpu", weights_only=True)  # tensors only, never arbitrary objects
    network = VGGFeatures()
    wanted = {key for key in network.state_dict() if key.startswith("features.")}
    missing = wanted - set(state)
    if missing:
        raise ValueError(f"{file} is not a VGG-16 state dict (missing {', '.join(sorted(missing)[:3])} ...)")
    network.load_state_dict({key: state[key] for key in wanted}, strict=False)
    return network.eval().requires_grad_(False)


class PerceptualLoss(nn.Module):
    """MSE between VGG-16 relu3_3 features of every axial slice, windowed to QUALITY_WINDOW as [0, 1] grey."""

    def __init__(self, weights: str) -> None:
        super().__init__()
        self.vgg = load_vgg_weights(weights)

    @staticmethod
    def _slices(volume: torch.Tensor) -> torch.Tensor:
        grey = ((volume.float() * 1000.0 - 1000.0) - QUALITY_WINDOW[0]) / (QUALITY_WINDOW[1] - QUALITY_WINDOW[0])
        n, c, z, y, x = grey.shape
        return grey.clamp(0, 1).permute(0, 2, 1, 3, 4).reshape(n * z, c, y, x)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean squared distance of the VGG features of the axial slices (quality window).

        Args:
            prediction: the network's output (N, 1, Z, Y, X), normalised.
            target: the normal dose, likewise.
        """
        self.vgg.to(prediction.device)
        return F.mse_loss(self.vgg(self._slices(prediction)), self.vgg(self._slices(target)))


def parse_spec(spec: str) -> list[tuple[float, str]]:
    terms = []
    for term in spec.replace(" ", "").lower().split("+"):
        match = re.fullmatch(r"(?:([0-9.eE-]+)\*)?([a-z0-9]+)", term)
        if not match or match.group(2) not in NAMES:
            raise ValueError(f"unknown loss term {term!r} in {spec!r}: use {', '.join(NAMES)} "
                             "or sums like 'l1+0.2*ssim'")
        terms.append((float(match.group(1) or 1.0), match.group(2)))
    return terms


def make_loss(spec: str, perceptual_weights: str = "") -> Loss:
    parts: list[tuple[float, Loss]] = []
    for weight, name in parse_spec(spec):
        function: Loss = ({"l1": F.l1_loss, "mse": F.mse_loss, "ssim": ssim_loss}.get(name)
                          or PerceptualLoss(perceptual_weights))
        parts.append((weight, function))

    def loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        prediction = prediction.float()
        return sum(weight * function(prediction, target) for weight, function in parts)  # type: ignore[return-value]

    return loss
