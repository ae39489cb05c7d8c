"""Label-map masks: label choice, nearest-neighbour resampling onto the image grid (reported), and clear errors
for empty, disjoint and one-voxel masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from CTDenoiseLib.cli import main
from CTDenoiseLib.errors import CTDenoiseError
from CTDenoiseLib.io.label_masks import mask_on_grid
from CTDenoiseLib.io.volumes import Volume, write_volume

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _image() -> Volume:
    return Volume(np.zeros((6, 20, 20), np.int16), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), IDENTITY)


def _mask(array: np.ndarray, spacing=(1.0, 1.0, 2.0), origin=(0.0, 0.0, 0.0)) -> Volume:
    return Volume(array.astype(np.uint8), spacing, origin, IDENTITY)


def test_selects_the_requested_label() -> None:
    labels = np.zeros((6, 20, 20))
    labels[2:4, 5:8, 5:8], labels[2:4, 12:15, 12:15] = 1, 2
    region = mask_on_grid(_mask(labels), _image(), 2)
    assert region.array.sum() == 18 and region.array[3, 13, 13] and not region.array[3, 6, 6]
    assert not region.resampled and region.note == ""
    with pytest.raises(CTDenoiseError, match=r"several labels \[1, 2\].*--label"):
        mask_on_grid(_mask(labels), _image(), None)
    with pytest.raises(CTDenoiseError, match=r"Label 5 does not occur.*\[1, 2\]"):
        mask_on_grid(_mask(labels), _image(), 5)


def test_mask_on_another_grid_is_resampled_with_nearest_neighbour_and_reported() -> None:
    coarse = np.zeros((3, 10, 10))
    coarse[1, 2:4, 2:4] = 1  # voxels of 2x2x4 mm: physical x, y in [3.5, 7.5) mm around centres 4, 6
    region = mask_on_grid(_mask(coarse, spacing=(2.0, 2.0, 4.0), origin=(0.5, 0.5, 1.0)), _image(), None)
    assert region.resampled and "nearest neighbour" in region.note and "10x10x3 voxels" in region.note
    assert set(np.unique(region.array)) == {False, True}
    zs, ys, xs = np.nonzero(region.array)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (4, 7, 4, 7) and set(zs) == {2, 3}


def test_empty_mask_is_refused() -> None:
    with pytest.raises(CTDenoiseError, match="empty: it has no non-zero voxel"):
        mask_on_grid(_mask(np.zeros((6, 20, 20))), _image(), None)


def test_mask_outside_the_image_is_refused() -> None:
    labels = np.zeros((6, 20, 20))
    labels[2:4, 5:8, 5:8] = 1
    with pytest.raises(CTDenoiseError, match="does not overlap the image"):
        mask_on_grid(_mask(labels, origin=(500.0, 0.0, 0.0)), _image(), None)


def test_one_voxel_mask_is_refused() -> None:
    labels = np.zeros((6, 20, 20))
    labels[3, 10, 10] = 1
    with pytest.raises(CTDenoiseError, match="single voxel"):
        mask_on_grid(_mask(labels), _image(), None)


def test_command_line_reports_a_bad_mask_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    image = Volume((np.random.default_rng(0).normal(0, 30, (6, 20, 20)) - 500).astype(np.int16), (1.0, 1.0, 2.0),
                   (0.0, 0.0, 0.0), IDENTITY)
    write_volume(image, tmp_path / "image.nrrd")
    write_volume(_mask(np.zeros((6, 20, 20))), tmp_path / "mask.nrrd")
    status = main(["radiomics", "--mask", str(tmp_path / "mask.nrrd"), "--image", str(tmp_path / "image.nrrd"),
                   "--output-dir", str(tmp_path / "out"), "--progress", "none"])
    error = capsys.readouterr().err.strip()
    assert status == 1 and error.startswith("ctdenoise: error: The mask") and "empty" in error
    assert len(error.splitlines()) == 1
