"""The nodule segment exported for the radiomics comparison, on Slicer's real segmentation logic (slicer-core;
slicer_core_harness.py): on the CT's grid whatever the segmentation's own geometry and transform, a segment on a
few slices, a segment deleted since it was chosen and an empty one refused with what to do, and no label map or
colour table left behind. Skipped, with the reason, where slicer-core is not installed."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "CTDenoise"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from CTDenoiseLib.io.volumes import read_volume  # noqa: E402

from slicer_core_harness import (  # noqa: E402
    add_linear_transform,
    add_segment,
    add_volume,
    added_nodes,
    ijk_to_ras,
    node_counts,
    translation,
)

SHAPE = (8, 30, 32)  # k, j, i
SPACING, ORIGIN = (0.7, 0.8, 2.5), (-10.0, 20.0, 50.0)


def _ct():
    return add_volume(np.full(SHAPE, -800, np.int16), "chest", ijk_to_ras(SPACING, ORIGIN))


def _few_slices() -> np.ndarray:
    mask = np.zeros(SHAPE, bool)
    mask[3:5, 10:16, 12:20] = True
    return mask


def test_a_segment_on_a_few_slices_is_written_on_the_cts_grid_and_leaves_nothing(slicer_core, tmp_path) -> None:
    ct = _ct()
    segmentation, segment_id = add_segment(_few_slices(), ct)
    before = node_counts(slicer_core.scene)
    for attempt in range(2):
        path = slicer_core.slicer_nodes.export_segment(segmentation, segment_id, ct, str(tmp_path / f"m{attempt}.nrrd"))
        written = read_volume(path)
        assert written.array.shape == SHAPE
        np.testing.assert_array_equal(written.array > 0, _few_slices())
        assert written.spacing == pytest.approx(SPACING) and written.origin == pytest.approx((10.0, -20.0, 50.0))
    assert added_nodes(before, node_counts(slicer_core.scene)) == {}  # no label map, display node or colour table


def test_a_segmentation_with_its_own_grid_and_transform_is_exported_where_it_lies_on_the_ct(slicer_core,
                                                                                             tmp_path) -> None:
    """A segmentation drawn on another scan (coarser grid), moved by a registration: the mask lands on the CT's
    voxels it covers in world coordinates."""
    ct = _ct()
    # each voxel of the other scan covers 2x2x2 voxels of the CT; the registration moves it 8 CT voxels along I
    coarse = add_volume(np.zeros((4, 15, 16), np.int16), "other scan",
                        ijk_to_ras((1.4, 1.6, 5.0), np.add(ORIGIN, (0.35 + 5.6, 0.4, 1.25))))
    mask = np.zeros((4, 15, 16), bool)
    mask[1, 5:8, 8:12] = True
    segmentation, segment_id = add_segment(mask, coarse)
    segmentation.SetAndObserveTransformNodeID(add_linear_transform(translation((-5.6, 0.0, 0.0))).GetID())
    path = slicer_core.slicer_nodes.export_segment(segmentation, segment_id, ct, str(tmp_path / "mask.nrrd"))
    written = read_volume(path)
    expected = np.zeros(SHAPE, bool)
    expected[2:4, 10:16, 16:24] = True
    assert written.array.shape == SHAPE
    np.testing.assert_array_equal(written.array > 0, expected)


def test_a_segment_deleted_since_it_was_chosen_says_so(slicer_core, tmp_path) -> None:
    """Slicer's export succeeds for a missing segment ID with an empty image; the user must not read 'could not
    write the mask'."""
    ct = _ct()
    segmentation, segment_id = add_segment(_few_slices(), ct)
    segmentation.GetSegmentation().RemoveSegment(segment_id)
    before = node_counts(slicer_core.scene)
    with pytest.raises(RuntimeError, match=r"no longer exists in 'nodule segmentation'.*choose the nodule segment"):
        slicer_core.slicer_nodes.export_segment(segmentation, segment_id, ct, str(tmp_path / "mask.nrrd"))
    assert added_nodes(before, node_counts(slicer_core.scene)) == {}
    assert not (tmp_path / "mask.nrrd").exists()


def test_an_empty_segment_is_refused_before_the_engine_runs(slicer_core, tmp_path) -> None:
    ct = _ct()
    segmentation, segment_id = add_segment(np.zeros(SHAPE, bool), ct, name="nodule")
    before = node_counts(slicer_core.scene)
    logic = slicer_core.logic.CTDenoiseLogic(python=sys.executable)
    with pytest.raises(RuntimeError, match="segment 'nodule' has no voxel inside 'chest': paint the nodule"):
        logic.startRadiomics(segmentation, segment_id, ct, ct)
    assert added_nodes(before, node_counts(slicer_core.scene)) == {}
    assert not list(tmp_path.glob("CTDenoise-*"))  # the temporary folder is gone too
