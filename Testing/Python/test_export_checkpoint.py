"""`ctdenoise export-checkpoint`: a kept checkpoint of a run becomes a registered model with the run's card,
its validation at that step and the reason; a step that was not kept is refused in one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))

from CTDenoiseLib.cli import main  # noqa: E402

from training_data_helpers import write_crops  # noqa: E402


def test_a_kept_checkpoint_is_exported_with_its_validation_and_reason(tmp_path, capsys) -> None:
    from CTDenoiseLib.models.registry import read_registry

    crops = write_crops(tmp_path / "crops")
    run = tmp_path / "run"
    assert main(["train", "--architecture", "stresnet", "--features", "4", "--blocks", "1", "--patch", "8", "24", "24",
                 "--batch", "2", "--realisations", "1", "--validate-every", "2", "--checkpoint-every", "2",
                 "--keep-checkpoints", "2", "--int8", "off", "--tensorboard", "off", "--threads", "1",
                 "--steps", "4", "--data-dir", str(crops["chestA"].parent), "--validation", str(crops["lidc"]),
                 "--cache-dir", str(tmp_path / "cache"), "--name", "tiny", "--run-dir", str(run),
                 "--export-dir", str(tmp_path / "run-models")]) == 0
    models = tmp_path / "models"
    assert main(["export-checkpoint", str(run), "--step", "2", "--export-dir", str(models), "--name", "tiny-2",
                 "--int8", "off", "--reason", "fixed step budget"]) == 0
    assert '"event": "exported"' in capsys.readouterr().out
    entry = next(e for e in read_registry(models / "registry.json") if e.name == "tiny-2")
    exported = load_file(str(entry.weights.path))
    kept = load_file(str(run / "checkpoints" / "step-00000002" / "model.safetensors"))
    assert all(torch.equal(exported[k], kept[k]) for k in kept)
    card = json.loads(entry.card.path.read_text())
    state = json.loads((run / "checkpoints" / "step-00000004" / "state.json").read_text())
    validated = next(row for row in state["history"] if row["step"] == 2 and "psnr_db" in row)
    assert card["metrics"]["validation"]["psnr_db"] == validated["psnr_db"]
    assert card["training"]["selection"] == {"chosen_step": 2, "rule": "fixed step budget", "validated_in_run": True}
    assert card["metrics"]["validation"]["last_step"] == 4 and card["name"] == "tiny-2"


def test_a_step_that_was_not_kept_is_refused_in_one_line(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    (run / "checkpoints" / "step-00000010").mkdir(parents=True)
    (run / "checkpoints" / "step-00000010" / "model.safetensors").write_bytes(b"")
    (run / "config.json").write_text("{}")
    (run / "run.json").write_text("{}")
    assert main(["export-checkpoint", str(run), "--step", "3", "--export-dir", str(tmp_path / "m")]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "no checkpoint of step 3" in error and "kept steps: 10" in error
    assert main(["export-checkpoint", str(tmp_path), "--step", "3", "--export-dir", str(tmp_path / "m")]) == 1
    assert "is not a training run folder" in capsys.readouterr().err
