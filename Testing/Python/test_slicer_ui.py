"""The panel layout: every widget the code uses exists in CTDenoise.ui with the expected class, parameter
bindings fit the parameter node's types, and the .ui renders offscreen (PySide6) to a non-empty image."""

from __future__ import annotations

import ast
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UI_FILE = REPO / "CTDenoise/Resources/UI/CTDenoise.ui"
LIB = REPO / "CTDenoise/CTDenoiseSlicerLib"
sys.path.insert(0, str(Path(__file__).resolve().parent))

# What the code relies on: parameterNodeWrapper's connectors match on the exact widget class.
EXPECTED = {
    "environmentLabel": "QLabel", "installDependenciesButton": "QPushButton", "refreshEnvironmentButton": "QPushButton",
    "inputSelector": "qMRMLNodeComboBox", "modelComboBox": "QComboBox", "precisionComboBox": "QComboBox",
    "deviceComboBox": "QComboBox", "deviceInfoLabel": "QLabel", "outputSelector": "qMRMLNodeComboBox",
    "strengthSlider": "ctkSliderWidget", "expectedTimeLabel": "QLabel",
    "tileSizeSpinBox": "QDoubleSpinBox", "keepTemporaryFilesCheckBox": "QCheckBox",
    "selfEnsembleCheckBox": "QCheckBox", "adaptCheckBox": "QCheckBox", "applyButton": "QPushButton",
    "progressBar": "QProgressBar", "statusLabel": "QLabel", "showLogButton": "QPushButton",
    "segmentSelector": "qMRMLSegmentSelectorWidget", "radiomicsInputSelector": "qMRMLNodeComboBox",
    "radiomicsDenoisedSelector": "qMRMLNodeComboBox", "radiomicsReferenceSelector": "qMRMLNodeComboBox",
    "flagThresholdSpinBox": "QDoubleSpinBox", "computeRadiomicsButton": "QPushButton",
    "exportCsvButton": "QPushButton", "radiomicsStatusLabel": "QLabel", "radiomicsTableView": "qMRMLTableView",
}
# parameter type -> widget classes whose Slicer connector handles it
CONNECTORS = {"vtkMRMLScalarVolumeNode": {"qMRMLNodeComboBox"}, "vtkMRMLSegmentationNode": {"qMRMLNodeComboBox"},
              "Precision": {"QComboBox"}, "Device": {"QComboBox"}, "float": {"QDoubleSpinBox", "ctkSliderWidget"},
              "bool": {"QCheckBox"},
              "str": {"QLineEdit"}}


def _ui_widgets() -> dict[str, ET.Element]:
    return {w.get("name"): w for w in ET.parse(UI_FILE).getroot().iter("widget")}


def _names_used_by_code() -> set[str]:
    names = set()
    for path in LIB.glob("*.py"):
        names |= set(re.findall(r"self\.ui\.(\w+)", path.read_text()))
    return names


def test_every_widget_the_code_uses_exists_with_the_expected_class() -> None:
    widgets, used = _ui_widgets(), _names_used_by_code()
    assert used, "found no self.ui.<name> in the code"
    unknown = sorted(used - set(EXPECTED))
    assert not unknown, f"add the expected class of {unknown} to EXPECTED"
    for name in sorted(used):
        assert name in widgets, f"{name} is used by the code but missing from CTDenoise.ui"
        assert widgets[name].get("class") == EXPECTED[name], f"{name}: {widgets[name].get('class')}"
    bound = {n for n, w in widgets.items() for prop in w.findall("property")
             if prop.get("name") == "SlicerParameterName"}
    for name in sorted(bound):  # used through the parameter node's connectors
        assert widgets[name].get("class") == EXPECTED.get(name), f"{name}: {widgets[name].get('class')}"
    unused = sorted(set(EXPECTED) - used - bound)
    assert not unused, f"{unused} are expected but no longer used: update EXPECTED"


def _parameter_fields() -> dict[str, str]:
    tree = ast.parse((LIB / "parameter_node.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    fields = {}
    for node in cls.body:
        if isinstance(node, ast.AnnAssign):
            annotation = node.annotation
            if isinstance(annotation, ast.Subscript) and ast.unparse(annotation.value) == "Annotated":
                annotation = annotation.slice.elts[0]
            fields[node.target.id] = ast.unparse(annotation)
    return fields


def test_parameter_bindings_fit_the_parameter_node() -> None:
    fields = _parameter_fields()
    bound = {}
    for name, widget in _ui_widgets().items():
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound[name] = (prop.find("string").text, widget.get("class"))
    assert len(bound) >= 8
    for widget_name, (parameter, cls) in bound.items():
        assert parameter in fields, f"{widget_name} binds to '{parameter}', which CTDenoiseParameterNode lacks"
        assert cls in CONNECTORS[fields[parameter]], f"{widget_name} ({cls}) cannot show a {fields[parameter]}"
    assert len({p for p, _ in bound.values()}) == len(bound), "two widgets bind to the same parameter"


def test_every_mrml_widget_receives_the_scene() -> None:
    root = ET.parse(UI_FILE).getroot()
    receivers = {c.findtext("receiver") for c in root.iter("connection")
                 if c.findtext("signal") == "mrmlSceneChanged(vtkMRMLScene*)"}
    mrml = {n for n, w in _ui_widgets().items() if w.get("class", "").startswith("qMRML") and n != "CTDenoise"}
    assert mrml == receivers
    declared = {c.findtext("class") for c in root.iter("customwidget")}
    used_custom = {w.get("class") for w in _ui_widgets().values() if not w.get("class").startswith("Q")}
    assert used_custom <= declared


def test_ui_renders_offscreen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("PySide6.QtUiTools", reason="PySide6 not installed (pip install PySide6-Essentials)")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QImage

    import slicer_ui_render

    image = QImage(str(slicer_ui_render.render(tmp_path / "panel.png")))
    assert image.width() >= 400 and image.height() >= 600
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 20  # text, widgets and the progress bar, not a blank image


def _range_annotation(field: str) -> tuple[float, float] | None:
    tree = ast.parse((LIB / "parameter_node.py").read_text())
    constants = {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body
                 if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)}
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and node.target.id == field and isinstance(node.annotation, ast.Subscript):
            for call in node.annotation.slice.elts[1:]:
                if isinstance(call, ast.Call) and ast.unparse(call.func) == "WithinRange":
                    return tuple(constants.get(getattr(a, "id", None), None) if isinstance(a, ast.Name)
                                 else ast.literal_eval(a) for a in call.args)
    return None


@pytest.mark.parametrize("widget_name, field", [("tileSizeSpinBox", "maxTileMvox"), ("strengthSlider", "strength"),
                                                ("flagThresholdSpinBox", "flagThresholdPercent")])
def test_bounded_widgets_keep_the_ui_range(widget_name: str, field: str) -> None:
    """The connector replaces the widget's range with the annotation's: only WithinRange keeps it bounded."""
    widget = _ui_widgets()[widget_name]
    ui_range = tuple(float(widget.find(f"property[@name='{end}']/double").text) for end in ("minimum", "maximum"))
    assert _range_annotation(field) == ui_range, f"{field}: annotate WithinRange{ui_range}"
