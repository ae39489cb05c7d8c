"""The radiomics comparison on Slicer's real MRML classes and the real engine (slicer-core;
slicer_core_harness.py): an image under another transform than the low-dose one compared where it lies in the
world, exactly the nodes a user asked for after a denoise and two comparisons, the table's typed columns and the
chart's series reused, a failure leaving nothing behind. Skipped, with the reason, where slicer-core is not
installed."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "CTDenoise"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from CTDenoiseSlicerLib.radiomics_table import FeatureRow, FeatureTable  # noqa: E402

from slicer_core_harness import (  # noqa: E402
    add_linear_transform,
    add_segment,
    add_volume,
    added_nodes,
    ijk_to_ras,
    node_counts,
    translation,
    use_stub_engine,
)

SHAPE = (8, 32, 36)  # k, j, i
SPACING, ORIGIN = (0.7, 0.8, 2.5), (-10.0, 20.0, 50.0)
MEAN = "firstorder_Mean"


def _nodule_ct(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A lung-like background (-800 HU) around a -250 HU nodule, both noisy; and the nodule's mask."""
    k, j, i = np.indices(SHAPE)
    mask = ((k - 4) * 2.5) ** 2 + ((j - 16) * 0.8) ** 2 + ((i - 14) * 0.7) ** 2 <= 4.0 ** 2
    rng = np.random.default_rng(seed)
    array = np.where(mask, -250, -800) + rng.normal(0, 25, SHAPE)
    return array.astype(np.int16), mask


def _features(table: FeatureTable, feature: str) -> dict[str, float]:
    row = next(row for row in table.rows if row.feature == feature)
    return dict(zip(table.images, row.values))


def test_a_reference_under_another_transform_is_compared_where_it_lies_in_the_world(slicer_core) -> None:
    """The normal-dose scan was registered to the low-dose one by a transform (10 voxels along I): in the world its
    nodule lies on the low-dose nodule. Exported in its own frame it would be read 10 voxels away, outside it."""
    pytest.importorskip("radiomics", reason="pyradiomics is not installed (pip install -e '.[radiomics]')")
    array, mask = _nodule_ct()
    low_dose = add_volume(array, "low dose", ijk_to_ras(SPACING, ORIGIN))
    registration = add_linear_transform(translation((10 * SPACING[0], 0.0, 0.0)))
    reference = add_volume(array, "normal dose", ijk_to_ras(SPACING, np.subtract(ORIGIN, (10 * SPACING[0], 0, 0))),
                           registration)
    denoised = add_volume(_nodule_ct(seed=1)[0], "denoised", ijk_to_ras(SPACING, ORIGIN))
    segmentation, segment_id = add_segment(mask, low_dose)
    logic = slicer_core.logic.CTDenoiseLogic(python=sys.executable)
    table = logic.computeRadiomics(segmentation, segment_id, low_dose, denoised, reference, timeout=300)
    means = _features(table, MEAN)
    assert means["lowdose"] == pytest.approx(array[mask].mean(), abs=0.5)
    assert means["reference"] == pytest.approx(means["lowdose"], abs=1e-6)  # the same voxels, found where they are
    row = next(row for row in table.rows if row.feature == MEAN)
    assert abs(row.relative_differences[0]) < 1e-6  # low dose vs reference


def test_a_denoise_and_two_comparisons_leave_exactly_the_nodes_asked_for(slicer_core, monkeypatch, tmp_path) -> None:
    """The result and its display node, one table, one chart, one series (and the plot view Slicer adds to show
    them); no label map, colour table, storage node or temporary file; the layout switched to one with a chart
    once, and left as the user set it after."""
    pytest.importorskip("radiomics", reason="pyradiomics is not installed (pip install -e '.[radiomics]')")
    use_stub_engine(monkeypatch, tmp_path / "stub")
    array, mask = _nodule_ct()
    low_dose = add_volume(array, "low dose", ijk_to_ras(SPACING, ORIGIN))
    segmentation, segment_id = add_segment(mask, low_dose)
    before = node_counts(slicer_core.scene)
    logic = slicer_core.logic.CTDenoiseLogic(python=sys.executable)
    denoised = logic.denoise(low_dose, timeout=60)
    layout = slicer_core.core.layout
    arrangements = []
    for _ in range(2):
        table = logic.computeRadiomics(segmentation, segment_id, low_dose, denoised, timeout=300)
        table_node = logic.showRadiomicsTable(table)
        arrangements.append(layout.GetViewArrangement())
        layout.SetViewArrangement(layout.SlicerLayoutFourUpView)  # the user goes back to their layout
    assert added_nodes(before, node_counts(slicer_core.scene)) == {
        "vtkMRMLScalarVolumeNode": 1, "vtkMRMLScalarVolumeDisplayNode": 1, "vtkMRMLTableNode": 1,
        "vtkMRMLPlotChartNode": 1, "vtkMRMLPlotSeriesNode": 1,
        "vtkMRMLPlotViewNode": 1}  # Slicer's layout logic makes the plot view of the layout it switches to
    assert table_node.GetNumberOfRows() == len(table.rows) > 10
    assert arrangements[0] != layout.SlicerLayoutFourUpView and arrangements[1] == layout.SlicerLayoutFourUpView
    chart = slicer_core.slicer.util.getNodesByClass("vtkMRMLPlotChartNode")[0]
    assert slicer_core.core.application_logic.GetSelectionNode().GetActivePlotChartID() == chart.GetID()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["stub"]


def test_the_table_has_typed_columns_and_the_chart_keeps_one_series_per_compared_image(slicer_core) -> None:
    logic = slicer_core.logic.CTDenoiseLogic(python=sys.executable)
    rows = (FeatureRow(MEAN, (1.0, 2.0, 3.0), (10.0, None), ("lowdose",)),
            FeatureRow("original_glcm_Contrast", (4.0, 5.0, 6.0), (-2.0, 3.5), ()))
    with_reference = FeatureTable(("lowdose", "denoised", "reference"), "reference", ("lowdose", "denoised"), 10.0,
                                  rows)
    table_node = logic.showRadiomicsTable(with_reference)
    vtk_table = table_node.GetTable()
    assert [vtk_table.GetColumnName(c) for c in range(vtk_table.GetNumberOfColumns())] == [
        "feature", "lowdose", "denoised", "reference", "relative difference lowdose (%)",
        "relative difference denoised (%)", "above threshold"]
    assert vtk_table.GetColumnByName("denoised").GetDataTypeAsString() == "double"
    assert math.isnan(vtk_table.GetValueByName(0, "relative difference denoised (%)").ToDouble())
    assert vtk_table.GetValueByName(0, "above threshold").ToString() == "lowdose"
    series = slicer_core.slicer.util.getNodesByClass("vtkMRMLPlotSeriesNode")
    assert sorted(s.GetYColumnName() for s in series) == ["relative difference denoised (%)",
                                                          "relative difference lowdose (%)"]
    assert all(s.GetTableNode() is table_node and s.GetPlotType() == s.PlotTypeBar for s in series)
    without = FeatureTable(("lowdose", "denoised"), "lowdose", ("denoised",), 10.0,
                           tuple(FeatureRow(r.feature, r.values[:2], r.relative_differences[1:], ()) for r in rows))
    assert logic.showRadiomicsTable(without) is table_node
    chart = slicer_core.slicer.util.getNodesByClass("vtkMRMLPlotChartNode")
    assert len(chart) == 1 and chart[0].GetNumberOfPlotSeriesNodes() == 1
    assert [s.GetYColumnName() for s in slicer_core.slicer.util.getNodesByClass("vtkMRMLPlotSeriesNode")] == [
        "relative difference denoised (%)"]


def test_a_failed_comparison_says_why_and_leaves_no_node_and_no_file(slicer_core, tmp_path) -> None:
    array, _ = _nodule_ct()
    low_dose = add_volume(array, "low dose", ijk_to_ras(SPACING, ORIGIN))
    one_voxel = np.zeros(SHAPE, bool)
    one_voxel[4, 16, 14] = True
    segmentation, segment_id = add_segment(one_voxel, low_dose)
    before = node_counts(slicer_core.scene)
    logic = slicer_core.logic.CTDenoiseLogic(python=sys.executable)
    with pytest.raises(RuntimeError, match="single voxel"):
        logic.computeRadiomics(segmentation, segment_id, low_dose, low_dose, timeout=300)
    assert added_nodes(before, node_counts(slicer_core.scene)) == {}
    assert not list(tmp_path.iterdir())
