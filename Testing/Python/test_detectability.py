"""ctdenoise detectability on the shared MITA phantom: inserts, signal-absent truth, simulated realisations,
one realisation per network call, and the command's outputs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from CTDenoiseLib.cli import main
from CTDenoiseLib.evaluation.detectability import DetectabilitySettings, crop_box, insert_geometry, make_methods
from CTDenoiseLib.simulation.lcd_phantom import find_inserts, ground_truth, signal_absent_truth, simulate_realisations

from conftest import shared_path


@pytest.fixture
def phantom():
    return shared_path("lcd_ct_phantom/fbp")


def test_four_inserts_with_the_mita_contrasts(phantom):
    inserts = find_inserts(ground_truth(phantom))
    assert [i.contrast_hu for i in inserts] == [14.0, 7.0, 5.0, 3.0]
    # nominal diameters 3, 5, 7, 10 mm: the same ratios in pixels
    diameters = np.array([i.diameter_px for i in inserts])
    np.testing.assert_allclose(diameters / diameters[0], np.array([3, 5, 7, 10]) / 3, rtol=0.05)


def test_signal_absent_truth_is_the_background_where_the_inserts_were(phantom):
    truth = ground_truth(phantom)
    absent = signal_absent_truth(truth)
    assert find_inserts(absent) == []
    changed = absent != truth
    assert np.all(absent[changed] == 0.0) and changed.sum() > 300
    assert np.array_equal(absent[~changed], truth[~changed])


def test_simulated_realisations_differ_and_only_present_holds_the_signal(phantom):
    truth = ground_truth(phantom)
    present, absent = simulate_realisations(truth, 1.0, 2, seed=7)
    assert present.shape == absent.shape == (2, *truth.shape)
    assert not np.allclose(present[0], present[1])  # independent noise per realisation
    insert = find_inserts(truth)[0]  # +14 HU
    difference = (present - absent).mean(axis=0) - (truth - signal_absent_truth(truth))
    row, column = (int(round(c)) for c in insert.centre)
    assert abs(difference[row - 1: row + 2, column - 1: column + 2].mean()) < 25  # noise only, no offset


def test_each_realisation_is_denoised_alone(phantom):
    """The model row sees one realisation per call: its output cannot depend on another realisation."""
    settings = DetectabilitySettings(models=["stresnet"], precisions=["fp32"], nlm=False)
    box = crop_box(insert_geometry(ground_truth(phantom), settings))
    method = make_methods(settings, box)["stresnet fp32"]
    rng = np.random.default_rng(0)
    image = ground_truth(phantom) + rng.normal(0, 20, (256, 256)).astype(np.float32)
    other = image + rng.normal(0, 20, (256, 256)).astype(np.float32)
    first = method(np.stack([image, other]))[0]
    assert first.shape == (box[0].stop - box[0].start, box[1].stop - box[1].start)
    np.testing.assert_array_equal(method(np.stack([image, image + 5.0]))[0], first)  # its neighbour changed
    assert np.std(first - ground_truth(phantom)[box]) < np.std(image[box] - ground_truth(phantom)[box])


def test_stack_mode_denoises_each_class_as_one_volume(phantom):
    """--denoise-as stack: a realisation's output depends on its neighbours in the stack (one volume)."""
    settings = DetectabilitySettings(models=["stresnet"], precisions=["fp32"], nlm=False, denoise_as="stack")
    truth = ground_truth(phantom)
    box = crop_box(insert_geometry(truth, settings))
    method = make_methods(settings, box)["stresnet fp32"]
    rng = np.random.default_rng(0)
    stack = truth + rng.normal(0, 40, (6, 256, 256)).astype(np.float32)
    changed = stack.copy()
    changed[1] += rng.normal(0, 40, (256, 256)).astype(np.float32)
    assert method(stack).shape == (6, box[0].stop - box[0].start, box[1].stop - box[1].start)
    assert not np.array_equal(method(stack)[0], method(changed)[0])
    with pytest.raises(ValueError, match="denoise_as"):
        make_methods(DetectabilitySettings(denoise_as="volume"), box)


def test_command_writes_table_csv_json_and_figure(phantom, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    status = main(["detectability", "--phantom", str(phantom), "--simulated-doses", "--models", "--bootstrap", "20",
                   "--output-dir", str(tmp_path)])
    assert status == 0
    with open(tmp_path / "detectability.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 * 2 * 4  # real doses x (as acquired, nlm) x inserts
    assert {r["split"] for r in rows} == {"loo"} and {r["n_present"] for r in rows} == {"10"}
    for row in rows:
        assert 0.0 <= float(row["auc"]) <= 1.0
        assert float(row["auc_lo"]) <= float(row["auc_hi"])
    # the normal-dose scans see the largest insert better than the 10 % dose scans
    def auc(dose):
        return next(float(r["auc"]) for r in rows if r["method"] == "as acquired" and float(r["dose"]) == dose
                    and r["insert"].startswith("+5 HU"))
    assert auc(1.0) > auc(0.1)
    settings = json.loads((tmp_path / "detectability.json").read_text())
    assert settings["settings"]["channels"] == 6 and len(settings["inserts"]) == 4
    assert (tmp_path / "detectability.png").stat().st_size > 10000
    assert "| 100 % | as acquired |" in capsys.readouterr().out


def test_an_unknown_simulated_kernel_is_one_clear_line_before_any_work(phantom, tmp_path, capsys):
    config = tmp_path / "settings.json"
    config.write_text(json.dumps({"simulated_kernel": "lung"}), encoding="utf-8")
    assert main(["detectability", "--phantom", str(phantom), "--config", str(config),
                 "--output-dir", str(tmp_path / "out")]) == 1
    assert "Unknown simulated_kernel 'lung'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_paired_comparison_with_a_named_method_is_written(phantom, tmp_path):
    assert main(["detectability", "--phantom", str(phantom), "--simulated-doses", "--models", "--bootstrap", "20",
                 "--paired-against", "as acquired", "--output-dir", str(tmp_path)]) == 0
    with open(tmp_path / "detectability-paired.csv", encoding="utf-8") as handle:
        paired = list(csv.DictReader(handle))
    assert len(paired) == 3 * 4 and {r["method"] for r in paired} == {"nlm"}  # real doses x inserts
    assert all(float(r["difference_lo"]) <= float(r["d_prime_difference"]) <= float(r["difference_hi"])
               for r in paired)
    assert "CHO d' minus that of as acquired" in (tmp_path / "detectability.md").read_text(encoding="utf-8")


def test_pairing_with_a_method_the_run_does_not_score_is_refused_before_any_work(phantom, tmp_path, capsys):
    assert main(["detectability", "--phantom", str(phantom), "--models", "stresnet", "--precisions", "int8",
                 "--paired-against", "stresnet fp32", "--output-dir", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "'stresnet fp32' is not one of the methods this run scores (as acquired, stresnet int8, nlm)" in err
    assert not (tmp_path / "out").exists()
