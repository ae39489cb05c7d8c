"""Training runs end to end on small real crops: exact resume, a 2-rank torchrun (gloo) run that checkpoints,
resumes to the same weights as an uninterrupted run, exports and denoises through `ctdenoise denoise`, real
low-dose pairs with 2x through-plane upscaling, and the training benchmark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from CTDenoiseLib.cli import main  # noqa: E402

from conftest import REPO
from training_data_helpers import TINY, final_weights, same_weights, write_crops  # noqa: E402


@pytest.fixture(scope="module")
def crops(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_crops(tmp_path_factory.mktemp("crops"))


def test_resume_continues_exactly_in_one_process(crops: dict[str, Path], tmp_path: Path, capsys) -> None:
    common = ["train", "--name", "one", *TINY, "--steps", "4", "--threads", "1",
              "--data-dir", str(crops["chestA"].parent),
              "--validation", str(crops["lidc"]), "--cache-dir", str(tmp_path / "cache")]
    assert main([*common, "--run-dir", str(tmp_path / "straight")]) == 0
    assert main([*common, "--run-dir", str(tmp_path / "resumed"), "--stop-after", "1"]) == 0
    assert main([*common, "--run-dir", str(tmp_path / "resumed")]) == 1  # refuses to overwrite a run
    assert "--resume" in capsys.readouterr().err
    assert main([*common, "--run-dir", str(tmp_path / "resumed"), "--resume"]) == 0
    assert same_weights(final_weights(tmp_path / "straight"), final_weights(tmp_path / "resumed"))
    straight = json.loads((tmp_path / "straight/checkpoints/step-00000004/state.json").read_text())
    resumed = json.loads((tmp_path / "resumed/checkpoints/step-00000004/state.json").read_text())
    assert straight["optimizer"] == resumed["optimizer"] and straight["scheduler"] == resumed["scheduler"]
    assert [row["loss"] for row in straight["history"]] == [row["loss"] for row in resumed["history"]]
    card = json.loads((tmp_path / "straight" / "one.card.json").read_text())
    assert card["training"]["config"]["steps"] == 4 and card["training"]["code"]["ctdenoise"]
    assert (tmp_path / "straight" / "split.json").is_file() and (tmp_path / "straight" / "run.json").is_file()


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "CTDenoiseLib", "train", *args]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_two_rank_torchrun_trains_resumes_exports_and_denoises(crops: dict[str, Path], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    common = ["--name", "ddp-tiny", *TINY, "--steps", "4", "--data-dir", str(crops["chestA"].parent),
              "--patient-pattern", "^([a-z]+)", "--cache-dir", str(tmp_path / "cache")]
    _torchrun([*common, "--run-dir", "straight"], tmp_path)
    _torchrun([*common, "--run-dir", "resumed", "--stop-after", "2"], tmp_path)
    done = _torchrun([*common, "--run-dir", "resumed", "--resume", "--export-dir", "models"], tmp_path)
    assert "resumed from" in done.stdout and '"event": "trained"' in done.stdout
    assert same_weights(final_weights(tmp_path / "straight"), final_weights(tmp_path / "resumed"))
    run = json.loads((tmp_path / "resumed" / "run.json").read_text())
    assert run["ranks"] == 2 and run["backend"] == "gloo"
    split = json.loads((tmp_path / "resumed" / "split.json").read_text())
    assert split["patients"] == {"train": ["chest"], "validation": ["abdomen"]}
    card = json.loads((tmp_path / "models" / "ddp-tiny.card.json").read_text())
    assert card["training"]["ranks"] == 2 and "validation" in card["metrics"] and card["int8"].startswith("not made")
    assert "1 patient(s)" in card["training"]["summary"]
    # The new model is listed and denoises through the normal command, without code changes.
    monkeypatch.setenv("CTDENOISE_MODEL_DIRS", str(tmp_path / "models"))
    assert main(["denoise", str(crops["lidc"]), str(tmp_path / "out.nrrd"), "--model", "ddp-tiny",
                 "--device", "cpu", "--progress", "none"]) == 0
    from CTDenoiseLib.io.volumes import read_volume

    assert read_volume(tmp_path / "out.nrrd").array.shape == read_volume(crops["lidc"]).array.shape


def test_fine_tuning_starts_from_a_registered_model_and_records_it(crops: dict[str, Path], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    common = [*TINY, "--threads", "1", "--data-dir", str(crops["chestA"].parent), "--validation", str(crops["lidc"]),
              "--cache-dir", str(tmp_path / "cache"), "--export-dir", str(tmp_path / "models")]
    assert main(["train", "--name", "base", *common, "--steps", "2", "--run-dir", str(tmp_path / "base")]) == 0
    monkeypatch.setenv("CTDENOISE_MODEL_DIRS", str(tmp_path / "models"))
    assert main(["train", "--name", "narrower", *common, "--features", "2", "--steps", "1", "--init-from", "base",
                 "--run-dir", str(tmp_path / "narrower")]) == 1
    assert "--init-from base is" in capsys.readouterr().err and not (tmp_path / "narrower").exists()
    # A vanishing learning rate leaves the fine-tuned weights where the source model was.
    assert main(["train", "--name", "tuned", *common, "--steps", "1", "--learning-rate", "1e-12", "--init-from", "base",
                 "--run-dir", str(tmp_path / "tuned")]) == 0
    base, tuned = (load_file(str(tmp_path / "models" / f"{name}.safetensors")) for name in ("base", "tuned"))
    assert any(value.abs().sum() > 0 for key, value in base.items() if "tail" in key)  # base moved off the identity
    assert all(np.allclose(base[key].numpy(), tuned[key].numpy(), atol=1e-8) for key in base)
    registry = json.loads((tmp_path / "models" / "registry.json").read_text())
    base_sha = next(model for model in registry["models"] if model["name"] == "base")["weights"]["sha256"]
    source = json.loads((tmp_path / "models" / "tuned.card.json").read_text())["training"]["initialised_from"]
    assert source["model"] == "base" and source["weights_sha256"] == base_sha and source["steps"] == 2
    # A wider and deeper network starts as the smaller one: its old channels hold the old weights (grow.py).
    assert main(["train", "--name", "grown", *common, "--features", "6", "--blocks", "2", "--steps", "1",
                 "--learning-rate", "1e-12", "--init-from", "base", "--run-dir", str(tmp_path / "grown")]) == 0
    grown = load_file(str(tmp_path / "models" / "grown.safetensors"))
    assert np.allclose(grown["tail.weight"][:, :4].numpy(), base["tail.weight"].numpy(), atol=1e-8)
    # (Adam's first step moves every weight by about the learning rate, 1e-12.)
    assert grown["tail.weight"][:, 4:].abs().max() < 1e-8 and grown["blocks.1.conv2.1.weight"].abs().max() < 1e-8
    card = json.loads((tmp_path / "models" / "grown.card.json").read_text())
    assert card["training"]["initialised_from"]["size"] == "4x1"


def test_real_low_dose_pairs_with_two_x_through_plane_upscaling(crops: dict[str, Path], tmp_path: Path) -> None:
    from CTDenoiseLib.io.volumes import read_volume, write_volume
    from CTDenoiseLib.models.files import load_model
    from CTDenoiseLib.simulation.low_dose import thicken_slices

    for folder in ("nd", "ld"):
        (tmp_path / folder).mkdir()
    for name in ("chestA", "abdomen"):
        volume = read_volume(crops[name])
        write_volume(volume, tmp_path / "nd" / f"{name}.nrrd")
        thick = thicken_slices(volume, volume.spacing[2] * 2)  # stands in for a real thick low-dose scan
        write_volume(thick.with_array(thick.array + np.random.default_rng(0).normal(0, 20, thick.array.shape)),
                     tmp_path / "ld" / f"{name}.nrrd")
    args = ["train", "--name", "up2", *TINY, "--z-upscale", "2", "--steps", "2", "--threads", "1",
            "--data-dir", str(tmp_path / "nd"), "--low-dose-dir", str(tmp_path / "ld"), "--validation-fraction", "0.5",
            "--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "models")]
    assert main(args) == 0
    card = json.loads((tmp_path / "models" / "up2.card.json").read_text())
    assert card["config"]["z_upscale"] == 2 and "1 real low-dose pair(s)" in card["training"]["summary"]
    os.environ["CTDENOISE_MODEL_DIRS"] = str(tmp_path / "models")
    try:
        assert load_model("up2").config.z_upscale == 2
    finally:
        os.environ.pop("CTDENOISE_MODEL_DIRS")


def test_train_benchmark_prints_throughput_and_amp_speedup(capsys) -> None:
    assert main(["train-benchmark", "--features", "4", "--blocks", "1", "--patch", "8", "16", "16", "--batch", "1",
                 "--steps", "1", "--warmup", "1", "--device", "cpu"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["precision"] for row in rows] == ["fp32", "bf16"]
    assert rows[0]["voxels_per_second_per_rank"] > 0 and "speedup_vs_fp32" in rows[1] and rows[1]["loss_finite"]


def test_packaging_lists_every_training_file() -> None:
    text = (REPO / "CTDenoiseTraining" / "CMakeLists.txt").read_text()
    for path in (REPO / "CTDenoiseTraining" / "CTDenoiseTrainingLib").glob("*.py"):
        assert f"CTDenoiseTrainingLib/{path.name}" in text
