"""Network families declare what INT8 export, teacher training and growing read of them (models/family.py), and a
family that lacks any of it is refused when it is registered, with a line naming what is missing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from CTDenoiseLib.models import ARCHITECTURES, ModelConfig, build_model
from CTDenoiseLib.models.family import FAMILY_MEMBERS, DenoiserFamily, register_families
from CTDenoiseLib.runtime.quantization import fp32_scopes
from CTDenoiseLib.vocabulary import Architecture, choices


class Block(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv2 = nn.Conv3d(features, features, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(x)


def family_without(member: str | None) -> type[nn.Module]:
    """A small network class with every ``DenoiserFamily`` member but ``member``."""

    class Family(nn.Module):
        def __init__(self, features: int, blocks: int, z_upscale: int = 1, noise_input: bool = False) -> None:
            super().__init__()
            parts = {"input_channels": 1, "z_upscale": 1, "head": nn.Conv3d(1, features, 3, padding=1),
                     "blocks": nn.Sequential(*[Block(features) for _ in range(blocks)]),
                     "tail": nn.Conv3d(features, 1, 3, padding=1)}
            for name, value in parts.items():
                if name != member:
                    setattr(self, name, value)

    declared = {"fp32_modules": ("head", "tail"), "grows_from": (), "spatial_multiple": 1,
                "features": lambda self, x: self.blocks(self.head(x)), "trunk": lambda self, f: self.blocks(f),
                "receptive_field_radius": lambda self: (3, 3, 3)}
    for name, value in declared.items():
        if name != member:
            setattr(Family, name, value)
    return Family


def test_a_family_with_every_member_registers() -> None:
    assert set(register_families({"tiny": family_without(None)}, ("tiny",))) == {"tiny"}


@pytest.mark.parametrize("member", FAMILY_MEMBERS)
def test_a_family_missing_a_member_fails_at_registration(member: str) -> None:
    with pytest.raises(TypeError, match=f"network family 'tiny' .*lacks {member}"):
        register_families({"tiny": family_without(member)}, ("tiny",))


def test_blocks_without_conv2_and_unknown_fp32_modules_fail_at_registration() -> None:
    no_conv2 = family_without(None)
    original = no_conv2.__init__

    def init(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        self.blocks = nn.Sequential(nn.Identity())

    no_conv2.__init__ = init  # type: ignore[method-assign]
    with pytest.raises(TypeError, match=r"lacks blocks\[i\]\.conv2"):
        register_families({"tiny": no_conv2}, ("tiny",))
    odd_fp32 = family_without(None)
    odd_fp32.fp32_modules = ("stem",)  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="fp32_modules: stem"):
        register_families({"tiny": odd_fp32}, ("tiny",))


def test_the_registered_families_are_the_vocabularys_and_answer_the_protocol() -> None:
    assert tuple(ARCHITECTURES) == choices(Architecture)
    with pytest.raises(TypeError, match="vocabulary.Architecture"):
        register_families({"tiny": family_without(None)}, ("other",))
    for name in ARCHITECTURES:
        assert isinstance(build_model(ModelConfig(name, 4, 2)), DenoiserFamily)


def test_registration_draws_no_random_numbers() -> None:
    state = torch.get_rng_state()
    register_families(dict(ARCHITECTURES), choices(Architecture))
    assert torch.equal(state, torch.get_rng_state())


def test_int8_keeps_the_modules_the_family_names_in_fp32() -> None:
    model = build_model(ModelConfig("stresnet", 4, 1))
    assert fp32_scopes(model) == [r".*__module\.head/.*", r".*__module\.tail/.*", r"^aten::add/.*"]
    model.fp32_modules = ("head",)  # type: ignore[misc]
    assert fp32_scopes(model) == [r".*__module\.head/.*", r"^aten::add/.*"]


def test_the_teacher_reconstructs_through_every_module_of_the_family() -> None:
    from CTDenoiseTrainingLib.recipes.teacher import reconstruct_without_skip

    torch.manual_seed(0)
    model = build_model(ModelConfig("stunet", 4, 2)).eval()
    nn.init.normal_(model.coarse.up1.weight, std=0.1)  # the branch speaks (a new STUNet's starts silent)
    nn.init.normal_(model.tail.weight, std=0.1)
    x = torch.rand(1, 1, 4, 16, 16)
    with torch.no_grad():
        assert torch.allclose(x + reconstruct_without_skip(model, x), model(x), atol=1e-6)
