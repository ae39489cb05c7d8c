"""Network families and their configuration (stored as data next to the weights)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from ..errors import CTDenoiseError
from ..vocabulary import Architecture, choices
from .family import register_families
from .residual_denoiser import chain_radius
from .srresnet import SRResNet3D
from .stresnet import STResNet
from .stunet import STUNet

# Checked here, at import: each family declares what INT8, teacher training and growing read (family.py).
ARCHITECTURES: dict[str, type[nn.Module]] = register_families(
    {Architecture.SRRESNET.value: SRResNet3D, Architecture.STRESNET.value: STResNet, Architecture.STUNET.value: STUNet},
    choices(Architecture))


@dataclass(frozen=True)
class ModelConfig:
    architecture: str
    features: int
    blocks: int
    z_upscale: int = 1  # output slices per input slice (2: 2 mm in, 1 mm out); cards without it mean 1
    noise_input: bool = False  # a second input channel carries the noise level (noise_channel); cards without it: blind

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        """The configuration a model card holds.

        Args:
            data: the card's model entries (``architecture``, ``features``, ``blocks``; ``z_upscale`` and
                ``noise_input`` optional).

        Raises:
            CTDenoiseError: an entry is missing or malformed.
        """
        try:
            return cls(architecture=str(data["architecture"]), features=int(data["features"]),
                       blocks=int(data["blocks"]), z_upscale=int(data.get("z_upscale", 1)),
                       noise_input=bool(data.get("noise_input", False)))
        except (KeyError, TypeError, ValueError) as error:
            raise CTDenoiseError(f"Model configuration is incomplete or malformed ({error!r}).",
                                 "It needs 'architecture', 'features' and 'blocks' "
                                 "('z_upscale' and 'noise_input' are optional).") from error

    def to_dict(self) -> dict:
        """The configuration as a card holds it (``z_upscale`` 1 and a blind input left out, as older cards)."""
        data = asdict(self)
        if self.z_upscale == 1:
            del data["z_upscale"]  # cards of plain denoisers stay as they were
        if not self.noise_input:
            del data["noise_input"]
        return data


def build_model(config: ModelConfig) -> nn.Module:
    if config.architecture not in ARCHITECTURES:
        raise CTDenoiseError(f"Unknown architecture '{config.architecture}'.",
                             f"Choose one of: {', '.join(sorted(ARCHITECTURES))}.")
    if config.z_upscale < 1:
        raise CTDenoiseError(f"z_upscale must be >= 1, got {config.z_upscale}.")
    return ARCHITECTURES[config.architecture](features=config.features, blocks=config.blocks,
                                              z_upscale=config.z_upscale, noise_input=config.noise_input)


def _convolutions(model: nn.Module) -> list[nn.Conv3d]:
    return [module for module in model.modules() if isinstance(module, nn.Conv3d)]


def receptive_field_radius(model: nn.Module) -> tuple[int, int, int]:
    """Voxels (z, y, x) on each side of an output voxel that can influence it.

    A registered family says it itself (``DenoiserFamily.receptive_field_radius``); for any other module all
    convolutions are taken as stride 1 on one chain (``chain_radius``).

    Args:
        model: a network.
    """
    if hasattr(model, "receptive_field_radius"):
        return tuple(model.receptive_field_radius())  # type: ignore[return-value]
    return chain_radius(_convolutions(model))


def parameter_count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def macs_per_voxel(model: nn.Module) -> int:
    """Multiply-accumulates per output voxel: each convolution's per-voxel cost divided by the voxels its
    resolution drops (product of the strides before it; a transposed convolution runs at its input's resolution)."""
    return round(sum(_conv_macs(conv) / _resolution_drop(model, name) for name, conv in _named_convolutions(model)))


def _named_convolutions(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, module) for name, module in model.named_modules()
            if isinstance(module, (nn.Conv3d, nn.ConvTranspose3d))]


def _conv_macs(conv: nn.Module) -> int:
    """Multiply-accumulates per voxel of the resolution the convolution reads (a transposed one spreads each input
    voxel over its taps)."""
    taps = conv.kernel_size[0] * conv.kernel_size[1] * conv.kernel_size[2]
    return conv.in_channels // conv.groups * conv.out_channels * taps


def _resolution_drop(model: nn.Module, name: str) -> int:
    """How many times fewer voxels the convolution ``name`` reads than the network's output: the product of the
    strides of the convolutions registered before it (1 for a plain chain; modules are registered in data order)."""
    drop = 1
    for other, conv in _named_convolutions(model):
        if other == name:
            return drop
        stride = conv.stride[0] * conv.stride[1] * conv.stride[2]
        drop = drop * stride if isinstance(conv, nn.Conv3d) else drop // stride
    return drop
