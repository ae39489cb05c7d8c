"""Tiles cover the volume exactly once within the memory budget, and tiled output matches untiled output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from CTDenoiseLib.inference.halo_study import tiling_error
from CTDenoiseLib.inference.tiling import plan_tiles
from CTDenoiseLib.io.volumes import read_volume
from CTDenoiseLib.models.files import load_model
from CTDenoiseLib.runtime.backends import TorchRunner


@pytest.mark.parametrize("shape, halo, budget", [((300, 512, 512), 6, 4_000_000), ((7, 33, 40), 3, 20_000),
                                                 ((40, 64, 64), 4, 40_000), ((3, 200, 100), 0, 10**9)])
def test_tiles_cover_every_voxel_once_within_the_budget(shape, halo, budget) -> None:
    counts = np.zeros(shape, dtype=np.int32)
    for tile in plan_tiles(shape, halo, budget):
        counts[tile.target] += 1
        source_shape = [s.stop - s.start for s in tile.source]
        crop_shape = [c.stop - c.start for c in tile.crop]
        assert crop_shape == [t.stop - t.start for t in tile.target]
        assert all(c.start >= halo and c.stop <= size - halo for c, size in zip(tile.crop, source_shape))
        if budget < 10**9 and min(shape[1:]) > 32:
            assert np.prod(source_shape) <= budget
    assert (counts == 1).all()


@pytest.mark.parametrize("shape, halo", [((300, 512, 512), (8, 14, 14)), ((7, 33, 40), 3), ((48, 512, 512), 10)])
def test_every_tile_of_a_plan_has_one_shape(shape, halo) -> None:
    """OpenVINO compiles a network once per tile shape and each compiled shape keeps its own buffers: edge tiles
    are read whole, ending at the volume's edge, so a plan has one shape."""
    shapes = {tuple(s.stop - s.start for s in tile.source) for tile in plan_tiles(shape, halo, 4_000_000)}
    assert len(shapes) == 1


def test_a_512x512x300_volume_reads_few_halo_voxels_within_the_default_budget() -> None:
    tiles = plan_tiles((300, 512, 512), 6, 4_000_000)
    read = [np.prod([s.stop - s.start for s in t.source]) for t in tiles]
    assert max(read) <= 4_000_000
    assert sum(read) / (300 * 512 * 512) < 1.3  # whole 512x512 slices would read 7x (2-slice cores)


@pytest.mark.parametrize("name", ["stresnet", "srresnet"])
def test_tiled_output_is_within_half_a_hu_of_untiled_on_real_ct(name: str, lidc_crop: Path) -> None:
    """The halo in the card (chosen on the validation volume) holds on an unseen patient (LIDC-IDRI-0003), with
    seams on all axes."""
    model = load_model(name)
    hu = read_volume(lidc_crop).array.astype(np.float32)
    # 64k voxels: cores of 3x32x32 with the shipped halo of 10, so seams cross the 11x128x128 crop on every axis
    error = tiling_error(hu, TorchRunner(model.module, "cpu"), model.normalization, model.halo, tile_voxels=64_000)
    assert error <= 0.5, f"{name}: tiled differs from untiled by {error:.3f} HU with halo {model.halo}"


@pytest.mark.parametrize("shape, halo, most", [((48, 512, 512), 10, 1.75), ((48, 512, 512), (8, 14, 14), 1.75),
                                               ((300, 512, 512), (8, 14, 14), 1.66)])
def test_near_equal_tiles_read_less_than_cutting_a_short_remainder(shape, halo, most) -> None:
    """A 48-slice slab cut into 32 + 16 slices (the plan of fixed cores) read 2.1x its voxels; near-equal parts
    of each axis read 1.7x. These are the shipped STResNet's and STUNet's halos within the default budget."""
    tiles = plan_tiles(shape, halo, 4_000_000)
    read = [np.prod([s.stop - s.start for s in t.source]) for t in tiles]
    assert max(read) <= 4_000_000
    assert sum(read) / np.prod(shape) <= most


def test_int8_tiles_are_larger_than_fp32_ones_by_default() -> None:
    """INT8 activations take a quarter of FP32's memory: 8 M-voxel INT8 tiles stayed under 3.4 GB at 512x512x300
    (docs/performance.md), FP32 and FP16 keep 4 M."""
    from CTDenoiseLib.inference.tiled import default_tile_voxels
    from CTDenoiseLib.runtime.backends import Precision

    assert default_tile_voxels(Precision.INT8) == 8_000_000
    assert default_tile_voxels(Precision.FP32) == default_tile_voxels("fp16") == 4_000_000
