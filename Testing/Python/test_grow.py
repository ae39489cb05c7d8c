"""Growing a trained network into a wider and deeper one (CTDenoiseTrainingLib/grow.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[2] / "CTDenoise"),
                str(Path(__file__).resolve().parents[2] / "CTDenoiseTraining")]

from CTDenoiseLib.models import ModelConfig, build_model  # noqa: E402
from CTDenoiseTrainingLib.grow import can_grow, grow_into  # noqa: E402


def trained_like(config: ModelConfig) -> torch.nn.Module:
    """A network whose every weight is non-zero (a trained one's tail is no longer the zero start)."""
    model = build_model(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.1)
    return model


@pytest.mark.parametrize("architecture", ["stresnet", "srresnet"])
@pytest.mark.parametrize("noise_input", [False, True])
def test_the_grown_network_computes_what_the_small_one_did(architecture: str, noise_input: bool) -> None:
    torch.manual_seed(0)
    small = trained_like(ModelConfig(architecture, 4, 2, noise_input=noise_input))
    big = build_model(ModelConfig(architecture, 7, 4, noise_input=True))
    grow_into(big, small.state_dict())
    image = torch.rand(1, 1, 5, 20, 20)
    small_input = torch.cat([image, torch.full_like(image, 0.7)], 1) if noise_input else image
    with torch.no_grad():
        torch.testing.assert_close(big(torch.cat([image, torch.full_like(image, 0.7)], 1)), small(small_input))


def test_every_weight_of_the_grown_network_learns() -> None:
    # Zeros on both sides of a new channel or block would never leave zero. Behind a zero last convolution the
    # rest of a new block moves from the second step on, as any block that starts as the identity does.
    torch.manual_seed(1)
    small = trained_like(ModelConfig("stresnet", 4, 1))
    big = build_model(ModelConfig("stresnet", 6, 3))
    grow_into(big, small.state_dict())
    start = {name: parameter.detach().clone() for name, parameter in big.named_parameters()}
    optimizer = torch.optim.SGD(big.parameters(), lr=0.1)
    image = torch.rand(2, 1, 4, 16, 16)
    for _ in range(2):
        optimizer.zero_grad()
        (big(image) - image.flip(-1)).square().mean().backward()
        optimizer.step()
    still = [name for name, parameter in big.named_parameters() if torch.equal(parameter, start[name])]
    assert not still


def test_what_can_grow() -> None:
    base = ModelConfig("stresnet", 16, 4)
    assert can_grow(base, ModelConfig("stresnet", 24, 6, noise_input=True)) and can_grow(base, base)
    assert not can_grow(base, ModelConfig("stresnet", 12, 6))  # narrower
    assert not can_grow(base, ModelConfig("stresnet", 16, 3))  # shallower
    assert not can_grow(base, ModelConfig("srresnet", 16, 4))  # another family
    up = ModelConfig("stresnet", 16, 4, z_upscale=2)
    assert can_grow(up, up) and not can_grow(up, ModelConfig("stresnet", 24, 4, z_upscale=2))
    with pytest.raises(ValueError, match="not the same family"):
        grow_into(build_model(ModelConfig("srresnet", 6, 1)), build_model(ModelConfig("stresnet", 4, 1)).state_dict())
