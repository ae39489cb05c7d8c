"""Network shapes, receptive field, and the size facts stated in the model cards."""

from __future__ import annotations

import pytest
import torch

from CTDenoiseLib.errors import CTDenoiseError
from CTDenoiseLib.models import ModelConfig, build_model, macs_per_voxel, parameter_count, receptive_field_radius


@pytest.mark.parametrize("architecture", ["srresnet", "stresnet"])
@pytest.mark.parametrize("shape", [(5, 17, 23), (1, 8, 8), (12, 32, 30)])
def test_output_has_the_input_shape(architecture: str, shape: tuple[int, int, int]) -> None:
    model = build_model(ModelConfig(architecture, features=4, blocks=2)).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, *shape)).shape == (2, 1, *shape)


@pytest.mark.parametrize("architecture", ["srresnet", "stresnet"])
def test_an_untrained_network_starts_as_the_identity(architecture: str) -> None:
    model = build_model(ModelConfig(architecture, features=4, blocks=1)).eval()
    volume = torch.rand(1, 1, 6, 10, 10)
    with torch.no_grad():
        assert torch.equal(model(volume), volume)


@pytest.mark.parametrize("architecture", ["srresnet", "stresnet"])
def test_receptive_field_matches_an_impulse_response(architecture: str) -> None:
    # Seeded: with some random weights the rectifiers zero the impulse's outermost path (the test then failed or
    # passed depending on which tests had drawn random numbers before it).
    torch.manual_seed(0)
    model = build_model(ModelConfig(architecture, features=4, blocks=2)).double().eval()
    torch.nn.init.normal_(model.tail.weight)  # a trained tail is not zero
    radius = receptive_field_radius(model)
    assert radius == (2 * 2 + 3, 2 * 2 + 3, 2 * 2 + 3)  # head + 2 per block + body + tail
    size = 2 * radius[0] + 9
    base = torch.rand(1, 1, size, size, size, dtype=torch.float64)
    poked = base.clone()
    centre = size // 2
    poked[0, 0, centre, centre, centre] += 1.0
    with torch.no_grad():
        changed = (model(poked) - model(base)).abs()[0, 0] > 0
    reach = [int(torch.nonzero(changed)[:, axis].max()) - centre for axis in range(3)]
    assert reach == list(radius)


def test_stresnet_factorises_every_feature_convolution() -> None:
    features, blocks = 16, 4
    sr = build_model(ModelConfig("srresnet", features, blocks))
    st = build_model(ModelConfig("stresnet", features, blocks))
    head_tail = 2 * 27 * features
    assert macs_per_voxel(sr) == (2 * blocks + 1) * 27 * features**2 + head_tail
    assert macs_per_voxel(st) == (2 * blocks + 1) * 12 * features**2 + head_tail
    assert parameter_count(st) < parameter_count(sr)


def test_unknown_architecture_is_a_clear_error() -> None:
    with pytest.raises(CTDenoiseError, match="Unknown architecture 'unet'"):
        build_model(ModelConfig("unet", 8, 1))


def test_every_family_is_named_in_the_vocabulary_parsers_use() -> None:
    from CTDenoiseLib.models import ARCHITECTURES
    from CTDenoiseLib.vocabulary import Architecture, choices

    assert tuple(ARCHITECTURES) == choices(Architecture, auto=False)
