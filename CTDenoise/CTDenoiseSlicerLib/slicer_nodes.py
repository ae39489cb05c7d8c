"""Moving volumes, segments and tables between the MRML scene and the engine's files, and showing results.

Uses Slicer's API; every function here runs on the main thread and takes at most a moment (file I/O of one
volume), never the denoising itself.
"""

from __future__ import annotations

import math

import slicer
import vtk

from .radiomics_table import FeatureTable

ROLE_ATTRIBUTE = "CTDenoise.role"  # marks the nodes the module reuses from one Compute to the next


def export_volume(node, path: str, world: bool = False) -> str:
    """Write a volume to NRRD without changing where the scene saves it (unlike ``saveNode``).

    Args:
        node: the volume.
        path: the NRRD file to write.
        world: write it in world coordinates, its parent transforms hardened on a copy (the node is left as it
            is); otherwise in its own frame, as for an engine output that is put back under the same transform.
    """
    if not slicer.util.exportNode(node, path, {"useCompression": 0}, world=world):
        raise RuntimeError(f"Could not write '{node.GetName()}' to {path}.")
    return path


def export_segment(segmentation, segment_id: str, reference_volume, path: str) -> str:
    """One segment as a label map (value 1) on the reference volume's grid, written to NRRD in world coordinates
    (so that it meets images under other transforms where they are). A segment that no longer exists or has no
    voxel on that grid is refused with what to do. The temporary label map, its display node and the
    ``<segmentation>_ColorTable`` node the export creates for it are removed afterwards."""
    segment = segmentation.GetSegmentation().GetSegment(segment_id)
    if segment is None:  # the export would succeed with an empty image: say what happened instead
        raise RuntimeError(f"The selected segment ('{segment_id}') no longer exists in '{segmentation.GetName()}': "
                           "choose the nodule segment again.")
    colorTablesBefore = {node.GetID() for node in slicer.util.getNodesByClass("vtkMRMLColorTableNode")}
    labelmap = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "CTDenoise nodule mask")
    try:
        ids = vtk.vtkStringArray()
        ids.InsertNextValue(segment_id)
        exported = slicer.modules.segmentations.logic().ExportSegmentsToLabelmapNode(
            segmentation, ids, labelmap, reference_volume)
        image = labelmap.GetImageData()
        if not exported or image is None:
            raise RuntimeError(f"Could not export segment '{segment.GetName()}' on the grid of "
                               f"'{reference_volume.GetName()}'.")
        if image.GetNumberOfPoints() == 0 or image.GetScalarRange()[1] <= 0:
            raise RuntimeError(f"The segment '{segment.GetName()}' has no voxel inside '{reference_volume.GetName()}': "
                               "paint the nodule, or choose the segment that holds it.")
        return export_volume(labelmap, path, world=True)
    finally:
        display = labelmap.GetDisplayNode()
        color = display.GetColorNode() if display else None
        if color is not None and color.GetID() in colorTablesBefore:
            color = None  # a shared colour table (the default one): never removed
        remove_nodes([*helper_nodes(labelmap), *([color] if color else []), labelmap])


def helper_nodes(node) -> list:
    """The display and storage nodes of ``node``: removing a node from the scene leaves them behind."""
    displays = [node.GetNthDisplayNode(i) for i in range(node.GetNumberOfDisplayNodes())]
    storages = [node.GetNthStorageNode(i) for i in range(node.GetNumberOfStorageNodes())]
    return [helper for helper in displays + storages if helper is not None]


def remove_nodes(nodes) -> None:
    """Remove nodes that are still in the scene (removing one may already have removed another)."""
    for node in list(nodes):
        if node.GetScene() is not None:
            slicer.mrmlScene.RemoveNode(node)


def load_result(path: str, input_volume, output_volume=None, name: str = ""):
    """Read the engine's output into ``output_volume`` (created when None) with the input's geometry,
    parent transform and window/level."""
    loaded = slicer.util.loadVolume(path, {"show": False, "singleFile": True})
    try:
        if loaded.GetImageData().GetDimensions() != input_volume.GetImageData().GetDimensions():
            raise RuntimeError("The engine's output does not have the input's dimensions.")
        if output_volume is None:
            output_volume = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
        elif name:  # an existing volume now holds this model's result: its name says so
            output_volume.SetName(name)
        output_volume.SetAndObserveImageData(loaded.GetImageData())
        output_volume.CopyOrientation(input_volume)
        output_volume.SetAndObserveTransformNodeID(input_volume.GetTransformNodeID())
    finally:  # its display node and its storage node (pointing at the temporary file) too
        remove_nodes([*helper_nodes(loaded), loaded])
    copy_display(input_volume, output_volume)
    return output_volume


def copy_display(source, target) -> None:
    target.CreateDefaultDisplayNodes()
    source_display, target_display = source.GetDisplayNode(), target.GetDisplayNode()
    if source_display is None or target_display is None:
        return
    target_display.SetAndObserveColorNodeID(source_display.GetColorNodeID())
    target_display.SetAutoWindowLevel(False)
    target_display.SetWindowLevel(source_display.GetWindow(), source_display.GetLevel())


def show_side_by_side(left, right) -> None:
    """Input on the left, result on the right, axial, with linked slice views."""
    layout_manager = slicer.app.layoutManager()
    if layout_manager is None:  # no main window (batch mode)
        return
    layout_manager.setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutSideBySideView)
    for view_name, volume in (("Red", left), ("Yellow", right)):
        slice_widget = layout_manager.sliceWidget(view_name)
        if slice_widget is None:
            continue
        composite = slice_widget.mrmlSliceCompositeNode()
        composite.SetBackgroundVolumeID(volume.GetID())
        composite.SetForegroundVolumeID(None)
        composite.SetLinkedControl(True)
        slice_widget.mrmlSliceNode().SetOrientationToAxial()
        slice_widget.sliceLogic().FitSliceToAll()


def fill_table_node(table_node, table: FeatureTable) -> None:
    """Feature, values, relative differences (NaN where the reference is 0) and flags as typed columns."""
    vtk_table = table_node.GetTable()
    vtk_table.Initialize()
    features = vtk.vtkStringArray()
    features.SetName("feature")
    columns = [features]
    for name in table.images:
        column = vtk.vtkDoubleArray()
        column.SetName(name)
        columns.append(column)
    for name in table.compared:
        column = vtk.vtkDoubleArray()
        column.SetName(f"relative difference {name} (%)")
        columns.append(column)
    flags = vtk.vtkStringArray()
    flags.SetName("above threshold")
    columns.append(flags)
    for row in table.rows:
        features.InsertNextValue(row.feature)
        numbers = list(row.values) + [math.nan if d is None else d for d in row.relative_differences]
        for column, value in zip(columns[1:-1], numbers):
            column.InsertNextValue(value)
        flags.InsertNextValue(", ".join(row.flagged))
    for column in columns:
        vtk_table.AddColumn(column)
    table_node.Modified()


def nodes_with_role(class_name: str, role_prefix: str) -> list:
    """The scene's nodes of a class whose role attribute starts with ``role_prefix``."""
    nodes = slicer.util.getNodesByClass(class_name)
    return [node for node in nodes if (node.GetAttribute(ROLE_ATTRIBUTE) or "").startswith(role_prefix)]


def reuse_or_add(class_name: str, role: str, name: str) -> tuple[object, bool]:
    """The node that played ``role`` before, or a new one; and whether it is new."""
    for node in nodes_with_role(class_name, role):
        if node.GetAttribute(ROLE_ATTRIBUTE) == role:
            return node, False
    node = slicer.mrmlScene.AddNewNodeByClass(class_name, name)
    node.SetAttribute(ROLE_ATTRIBUTE, role)
    return node, True


def show_relative_difference_plot(table_node, table: FeatureTable, chart_name: str):
    """A bar chart of each compared image's relative difference per feature. The chart and its series are
    reused from one Compute to the next; the layout is switched to one with a plot view only when the chart is
    first made, so a layout the user chose since is left alone."""
    chart, new = reuse_or_add("vtkMRMLPlotChartNode", "radiomicsChart", chart_name)
    chart.SetTitle(f"Relative difference to {table.reference} (%), flag above {table.threshold_percent:g} %")
    chart.SetXAxisTitle("feature (row of the table)")
    chart.SetYAxisTitle("relative difference (%)")
    chart.RemoveAllPlotSeriesNodeIDs()
    wanted = {f"radiomicsSeries:{name}" for name in table.compared}
    remove_nodes(node for node in nodes_with_role("vtkMRMLPlotSeriesNode", "radiomicsSeries:")
                 if node.GetAttribute(ROLE_ATTRIBUTE) not in wanted)
    for name in table.compared:
        series, _ = reuse_or_add("vtkMRMLPlotSeriesNode", f"radiomicsSeries:{name}", f"{chart_name} {name}")
        series.SetAndObserveTableNodeID(table_node.GetID())
        series.SetYColumnName(f"relative difference {name} (%)")
        series.SetLabelColumnName("feature")
        series.SetPlotType(slicer.vtkMRMLPlotSeriesNode.PlotTypeBar)
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
    if new:
        slicer.modules.plots.logic().ShowChartInLayout(chart)
    return chart
