"""Render CTDenoise.ui without Slicer: Slicer's custom widgets are mapped to their Qt base classes and loaded
with PySide6's QUiLoader offscreen, filled with example content, and saved as a PNG.

    QT_QPA_PLATFORM=offscreen python Testing/Python/slicer_ui_render.py

writes Resources/Screenshots/CTDenoise-panel.png.
"""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UI_FILE = REPO / "CTDenoise" / "Resources" / "UI" / "CTDenoise.ui"
SCREENSHOT = REPO / "Resources" / "Screenshots" / "CTDenoise-panel.png"
sys.path.insert(0, str(REPO / "CTDenoise"))

# Slicer/CTK class -> (Qt class, properties the Qt class understands)
STAND_INS = {
    "qMRMLWidget": ("QWidget", {"geometry"}),
    "ctkCollapsibleButton": ("QGroupBox", {"text"}),
    "qMRMLNodeComboBox": ("QComboBox", {"toolTip"}),
    "qMRMLSegmentSelectorWidget": ("QComboBox", {"toolTip"}),
    "qMRMLTableView": ("QTableWidget", {"minimumSize"}),
    "ctkSliderWidget": ("QDoubleSpinBox", {"toolTip", "decimals", "singleStep", "minimum", "maximum", "value"}),
}


def qt_ui_text(ui_file: Path = UI_FILE) -> str:
    """The .ui with every custom widget replaced by a Qt class and its Slicer-only properties dropped."""
    tree = ET.parse(ui_file)
    root = tree.getroot()
    for widget in root.iter("widget"):
        stand_in = STAND_INS.get(widget.get("class"))
        if stand_in is None:
            continue
        widget.set("class", stand_in[0])
        for prop in list(widget.findall("property")):
            if prop.get("name") not in stand_in[1]:
                widget.remove(prop)
            elif stand_in[0] == "QGroupBox" and prop.get("name") == "text":
                prop.set("name", "title")
    for tag in ("customwidgets", "connections"):
        for element in root.findall(tag):
            root.remove(element)
    for widget in root.iter("widget"):  # SlicerParameterName is a dynamic property; harmless but noisy
        for prop in list(widget.findall("property")):
            if prop.get("stdset") == "0":
                widget.remove(prop)
    return ET.tostring(root, encoding="unicode")


def _fill_example(panel) -> None:
    """Example content: what the panel shows halfway through denoising on a CPU-only machine, default choices."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QComboBox, QLabel, QProgressBar, QPushButton, QTableWidget, QTableWidgetItem

    from CTDenoiseSlicerLib.device_options import Device, Precision, device_options, precision_options, predict_path
    from CTDenoiseSlicerLib.expected_time import SpeedTable, expected_time_text
    from CTDenoiseSlicerLib.progress import ProgressSnapshot, RunStatus, parse_event

    def child(kind, name):
        return panel.findChild(kind, name)

    child(QLabel, "environmentLabel").setText("PyTorch 2.5.1; no CUDA GPU (CPU only). INT8 (OpenVINO) available.")
    child(QComboBox, "inputSelector").addItem("LIDC-IDRI-0003 10% dose (simulated)")
    child(QComboBox, "outputSelector").addItem("Create new volume")
    child(QComboBox, "modelComboBox").addItems(["STResNet (default)", "SRResNet"])
    for name, enum, options in (("deviceComboBox", Device, device_options(False)),
                                ("precisionComboBox", Precision, precision_options(Device.AUTO, False))):
        combo = child(QComboBox, name)
        for index, option in enumerate(options):
            combo.addItem(option.value.label())
            combo.model().item(index).setEnabled(option.enabled)
            combo.setItemData(index, option.reason or None, Qt.ToolTipRole)
    child(QComboBox, "precisionComboBox").setCurrentIndex(0)
    path = predict_path(Precision.AUTO, Device.AUTO, cuda_available=False, openvino=True)
    child(QLabel, "deviceInfoLabel").setText(
        f"Auto: the engine picks the fastest path here, most likely {path.describe()}; it says which when it starts.")
    child(QLabel, "expectedTimeLabel").setText(expected_time_text(SpeedTable.load(), "stresnet", path, 512 * 512 * 300))
    apply = child(QPushButton, "applyButton")
    apply.setText("Cancel")
    apply.setEnabled(True)
    progress = child(QProgressBar, "progressBar")
    progress.setVisible(True)
    status = RunStatus()
    status.update(parse_event('{"event":"engine","model":"stresnet","precision":"int8","device":"cpu",'
                              '"backend":"openvino"}'))
    status.update(parse_event('{"event":"noise","std_hu":72.6,"method":"median absolute deviation"}'))
    status.snapshot = ProgressSnapshot(42, 14.0)
    progress.setValue(status.snapshot.percent)
    child(QLabel, "statusLabel").setText(status.text)
    child(QComboBox, "segmentSelector").addItem("LIDC-IDRI-0003 nodule: Segment_1")
    child(QComboBox, "radiomicsInputSelector").addItem("LIDC-IDRI-0003 10% dose (simulated)")
    child(QComboBox, "radiomicsDenoisedSelector").addItem("LIDC-IDRI-0003 10% dose (simulated) denoised STResNet INT8")
    child(QComboBox, "radiomicsReferenceSelector").addItem("None (compare with the low-dose image)")
    child(QLabel, "radiomicsStatusLabel").setText("3 features; 1 differs from lowdose by more than 10 %.")
    table = child(QTableWidget, "radiomicsTableView")
    rows = [("firstorder_Mean", "-612.4", "-608.9", "0.57", ""),
            ("glcm_Contrast", "41.2", "12.7", "-69.17", "denoised"),
            ("shape_Sphericity", "0.71", "0.71", "0.00", "")]
    header = ["feature", "lowdose", "denoised", "rel. diff. (%)", "above threshold"]
    table.setColumnCount(len(header))
    table.setHorizontalHeaderLabels(header)
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(value))
    table.resizeColumnsToContents()


def render(output: Path = SCREENSHOT, width: int = 460) -> Path:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtUiTools import QUiLoader
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    data = QByteArray(qt_ui_text().encode())
    buffer = QBuffer(data)
    buffer.open(QIODevice.ReadOnly)
    loader = QUiLoader()
    panel = loader.load(buffer)
    if panel is None:
        raise RuntimeError(f"QUiLoader could not load the panel: {loader.errorString()}")
    _fill_example(panel)
    panel.resize(width, panel.sizeHint().height())
    panel.adjustSize()
    panel.resize(width, panel.height())
    app.processEvents()
    output.parent.mkdir(parents=True, exist_ok=True)
    if not panel.grab().save(str(output)):
        raise RuntimeError(f"could not write {output}")
    return output


if __name__ == "__main__":
    print(render(Path(sys.argv[1]) if len(sys.argv) > 1 else SCREENSHOT))
