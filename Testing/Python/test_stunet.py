"""STUNet, the multi-scale family: shapes on any tile, its receptive field, its cost, growth from an STResNet, and
the per-axis halo its wide in-plane reach needs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[2] / "CTDenoiseTraining")]

from CTDenoiseLib.hu import HUNormalization  # noqa: E402
from CTDenoiseLib.inference.halo_study import choose_halo, tiling_error  # noqa: E402
from CTDenoiseLib.inference.tiled import denoise_hu  # noqa: E402
from CTDenoiseLib.inference.tiling import plan_tiles  # noqa: E402
from CTDenoiseLib.models import ModelConfig, build_model, macs_per_voxel, receptive_field_radius  # noqa: E402
from CTDenoiseLib.runtime.backends import TorchRunner  # noqa: E402
from CTDenoiseTrainingLib.grow import can_grow, grow_into  # noqa: E402

NORMALIZATION = HUNormalization(low=-1024.0, high=3071.0, offset=1000.0, scale=1000.0)


def trained_stunet(features: int = 4, blocks: int = 2, noise_input: bool = False) -> torch.nn.Module:
    """A STUNet whose every weight is non-zero (its branch no longer silent), in float64 for exact comparisons."""
    torch.manual_seed(0)
    model = build_model(ModelConfig("stunet", features, blocks, noise_input=noise_input)).double().eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.1)
    return model


@pytest.mark.parametrize("shape", [(5, 17, 23), (1, 8, 8), (3, 33, 30)])
def test_any_tile_shape_comes_back_in_its_shape(shape: tuple[int, int, int]) -> None:
    model = trained_stunet()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, *shape, dtype=torch.float64)).shape == (2, 1, *shape)


def test_an_untrained_stunet_starts_as_the_identity() -> None:
    model = build_model(ModelConfig("stunet", 4, 2)).eval()
    volume = torch.rand(1, 1, 4, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(volume), volume)


def test_receptive_field_matches_an_impulse_response() -> None:
    model = trained_stunet()
    radius = receptive_field_radius(model)
    assert radius[0] < radius[1] == radius[2]  # the branch is in-plane only
    size = (2 * radius[0] + 5, 2 * radius[1] + 8, 2 * radius[2] + 8)
    base = torch.rand(1, 1, *size, dtype=torch.float64)
    poked = base.clone()
    centre = [s // 2 for s in size]
    poked[0, 0, centre[0], centre[1], centre[2]] += 1.0
    with torch.no_grad():
        changed = (model(poked) - model(base)).abs()[0, 0] > 1e-12
    reach = [int(torch.nonzero(changed)[:, axis].max()) - centre[axis] for axis in range(3)]
    # an upper bound in-plane: the 2x2 down- and upsampling reach one side only, depending on the grid's phase
    assert reach[0] == radius[0] and all(radius[a] - 6 <= reach[a] <= radius[a] for a in (1, 2))


def test_the_branch_costs_its_coarse_voxels_only() -> None:
    stresnet = build_model(ModelConfig("stresnet", 16, 4))
    stunet = build_model(ModelConfig("stunet", 16, 4))
    branch = stunet.coarse
    per_level = [(branch.down1, 1), (branch.encode1.conv1, 4), (branch.encode1.conv2, 4), (branch.down2, 4),
                 *[(conv, 16) for block in branch.middle for conv in (block.conv1, block.conv2)],
                 (branch.up2, 16), (branch.decode1.conv1, 4), (branch.decode1.conv2, 4), (branch.up1, 4)]
    expected = sum(conv.in_channels * conv.out_channels * np.prod(conv.kernel_size) / drop for conv, drop in per_level)
    assert macs_per_voxel(stunet) == macs_per_voxel(stresnet) + round(expected)
    assert macs_per_voxel(stunet) < 1.3 * macs_per_voxel(stresnet)


@pytest.mark.parametrize("noise_input", [False, True])
def test_grown_from_an_stresnet_it_computes_what_the_stresnet_did(noise_input: bool) -> None:
    torch.manual_seed(0)
    small = build_model(ModelConfig("stresnet", 4, 2, noise_input=noise_input)).double().eval()
    with torch.no_grad():
        for parameter in small.parameters():
            parameter.normal_(0.0, 0.1)
    target = ModelConfig("stunet", 4, 2, noise_input=True)
    assert can_grow(small_config := ModelConfig("stresnet", 4, 2), target)
    assert not can_grow(target, small_config) and not can_grow(ModelConfig("srresnet", 4, 2), target)
    big = build_model(target).double().eval()
    grow_into(big, small.state_dict())
    image = torch.rand(1, 1, 5, 24, 20, dtype=torch.float64)
    level = torch.full_like(image, 0.7)
    with torch.no_grad():
        torch.testing.assert_close(big(torch.cat([image, level], 1)),
                                   small(torch.cat([image, level], 1) if noise_input else image))


def test_tiles_with_a_per_axis_halo_cover_every_voxel_once() -> None:
    shape, halo = (9, 70, 50), (2, 7, 5)
    counts = np.zeros(shape, dtype=np.int32)
    for tile in plan_tiles(shape, halo, 12_000):
        counts[tile.target] += 1
        assert all(c.start >= h and c.stop <= s.stop - s.start - h for c, s, h in zip(tile.crop, tile.source, halo))
        assert np.prod([s.stop - s.start for s in tile.source]) <= 12_000
    assert (counts == 1).all()


def test_tiled_stunet_matches_untiled_with_its_receptive_field_as_halo() -> None:
    model = trained_stunet().float()
    rng = np.random.default_rng(0)
    hu = (rng.normal(0, 60, (6, 45, 38)) + 40).astype(np.float32)
    halo = receptive_field_radius(model)
    assert tiling_error(hu, TorchRunner(model, "cpu"), NORMALIZATION, halo, tile_voxels=30_000) < 1e-3


def test_a_runner_that_cannot_pad_is_given_padded_tiles() -> None:
    # A compiled network (OpenVINO) runs fixed-stride levels: the engine pads each tile's in-plane sides to the
    # runner's spatial_multiple and crops the output.
    model = trained_stunet().float()
    seen: list[tuple[int, ...]] = []

    def compiled(tile: np.ndarray) -> np.ndarray:
        seen.append(tile.shape)
        assert tile.shape[-1] % 4 == 0 and tile.shape[-2] % 4 == 0
        return TorchRunner(model, "cpu")(tile)

    compiled.spatial_multiple = 4  # type: ignore[attr-defined]
    hu = np.random.default_rng(1).normal(0, 50, (4, 21, 27)).astype(np.float32)
    padded = denoise_hu(hu, compiled, NORMALIZATION, (1, 3, 3))
    assert padded.shape == hu.shape and seen
    np.testing.assert_allclose(padded, denoise_hu(hu, TorchRunner(model, "cpu"), NORMALIZATION, (1, 3, 3)),
                               atol=1e-3)


def test_the_halo_study_gives_a_deeper_halo_in_plane_than_through_the_slices() -> None:
    model = trained_stunet().float()
    hu = np.random.default_rng(2).normal(0, 60, (10, 48, 48)).astype(np.float32)
    halo, measured = choose_halo(hu, TorchRunner(model, "cpu"), NORMALIZATION, receptive_field_radius(model),
                                 tolerance_hu=0.25)
    assert isinstance(halo, tuple) and halo[1] == halo[2] and halo[0] <= receptive_field_radius(model)[0]
    assert all(isinstance(tried, tuple) for tried, _ in measured)
    assert measured[-1] == (halo, measured[-1][1]) and measured[-1][1] <= 0.25 or halo[1] == receptive_field_radius(
        model)[1]
