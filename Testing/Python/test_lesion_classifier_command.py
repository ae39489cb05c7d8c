"""`ctdenoise lesion-classifier`: trained on the shared data, better than chance on the unseen patient, saved
with a card whose checksum matches; bad input refused in one line."""

from __future__ import annotations

import json

import pytest

from CTDenoiseLib.cli import main
from CTDenoiseTrainingLib.recipes.lesion_classifier_fit import wilson_interval

from conftest import shared_path


def test_wilson_interval_matches_the_textbook_values() -> None:
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_classifier_beats_chance_on_the_unseen_patient_and_is_saved_with_its_card(tmp_path, capsys) -> None:
    from CTDenoiseLib.models.registry import sha256_of
    from CTDenoiseTrainingLib.recipes.lesion_patches import load_classifier

    data = shared_path("lidc").parent
    shared_path("lcd_ct_phantom/fbp")
    assert main(["lesion-classifier", str(data), "--output-dir", str(tmp_path), "--epochs", "150"]) == 0
    card = json.loads((tmp_path / "lesion_classifier.json").read_text())
    weights = tmp_path / "lesion_classifier.safetensors"
    assert card["sha256"] == sha256_of(weights)
    load_classifier(weights)  # safetensors, the shape the recipe expects
    unseen = {s["source"]: s for s in card["held_out"]}["LIDC-IDRI-0003"]
    assert unseen["auc"] >= 0.8 and unseen["balanced_accuracy"] > 0.6  # chance: 0.5 for both
    assert "LIDC-IDRI-0003" in capsys.readouterr().out
    assert "LIDC-IDRI-0003" not in card["training"]["train"]["lidc"]


def test_a_folder_without_the_shared_data_is_refused_in_one_line(tmp_path, capsys) -> None:
    assert main(["lesion-classifier", str(tmp_path), "--output-dir", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "is not the shared data folder" in error
    assert not (tmp_path / "out").exists()
