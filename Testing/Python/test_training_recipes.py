"""The teacher-student and unpaired recipes end to end on tiny networks and small real crops: each resumes to
the same weights as an uninterrupted run, runs under a 2-rank torchrun (gloo), exports a registered model whose
card records the recipe and its feature network, and the plain recipe is untouched. Unit tests pin the
contrastive ratio, the divergence watch and the configuration checks."""

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

from training_data_helpers import write_crops  # noqa: E402

TINY = ["--architecture", "stresnet", "--features", "4", "--blocks", "1", "--patch", "8", "24", "24", "--batch", "2",
        "--realisations", "1", "--validate-every", "2", "--checkpoint-every", "2", "--int8", "off",
        "--tensorboard", "off", "--teacher-steps", "3"]


@pytest.fixture(scope="module")
def crops(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The training crops, plus a folder of two 'real' low-dose scans of other patients (noise added to LIDC)."""
    from CTDenoiseLib.io.volumes import Volume, read_volume, write_volume

    folder = tmp_path_factory.mktemp("crops")
    paths = write_crops(folder)
    lidc = read_volume(paths["lidc"])
    rng = np.random.default_rng(0)
    (folder / "low").mkdir()
    for name, part in (("lowone", slice(0, 48)), ("lowtwo", slice(16, 64))):
        noisy = lidc.array[:, part, part].astype(np.float32) + rng.normal(0, 40, (8, 48, 48))
        write_volume(Volume(np.ascontiguousarray(noisy.astype(np.int16)), lidc.spacing, lidc.origin, lidc.direction),
                     folder / "low" / f"{name}.nrrd")
    return {**paths, "low": folder / "low"}


def _final(run: Path) -> Path:
    latest = json.loads((run / "checkpoints" / "latest.json").read_text())["folder"]
    return run / "checkpoints" / latest / "model.safetensors"


def _same_weights(a: Path, b: Path) -> bool:
    left, right = load_file(str(a)), load_file(str(b))
    return set(left) == set(right) and all(np.array_equal(left[k].numpy(), right[k].numpy()) for k in left)


def _teacher_student(crops: dict[str, Path], tmp_path: Path, threads: list[str] = ["--threads", "1"]) -> list[str]:
    return ["train", *TINY, "--steps", "4", *threads, "--data-dir", str(crops["chestA"].parent),
            "--validation", str(crops["lidc"]), "--cache-dir", str(tmp_path / "cache"), "--recipe", "teacher-student",
            "--contrastive-weight", "0.5", "--consistency-weight", "0.1"]


def test_teacher_student_resumes_exactly_and_records_teacher_and_feature_network(crops, tmp_path) -> None:
    common = _teacher_student(crops, tmp_path)
    assert main([*common, "--name", "ts", "--run-dir", str(tmp_path / "straight")]) == 0
    assert main([*common, "--name", "ts", "--run-dir", str(tmp_path / "resumed"), "--stop-after", "1"]) == 0
    assert main([*common, "--name", "ts", "--run-dir", str(tmp_path / "resumed"), "--resume"]) == 0
    assert _same_weights(_final(tmp_path / "straight"), _final(tmp_path / "resumed"))
    straight, resumed = (json.loads((tmp_path / run / "metrics.csv").with_name("checkpoints").joinpath(
        "step-00000004", "state.json").read_text()) for run in ("straight", "resumed"))
    assert straight["history"] == [{**row, "train_seconds": s["train_seconds"],
                                    "voxels_per_second_per_rank": s["voxels_per_second_per_rank"]}
                                   for row, s in zip(resumed["history"], straight["history"])]
    row = straight["history"][-1]
    assert row["loss_consistency"] > 0 and 0 < row["loss_contrastive"] < 1  # bounded ratio d+/(d+ + d-)
    recipe = json.loads((tmp_path / "straight" / "ts.card.json").read_text())["training"]["recipe"]
    assert recipe["name"] == "teacher-student" and recipe["consistency_layers"] == ["head", "blocks"]
    assert recipe["feature_network"]["network"].startswith("teacher encoder")
    assert recipe["teacher"]["steps"] == 3 and len(recipe["teacher"]["sha256"]) == 64
    assert "left out" in recipe["dynamic_enhancement_module"]
    # The student learned something other than the plain recipe would have: its weights differ from plain's.
    plain = [arg for arg in common if arg not in ("teacher-student", "--recipe")]
    plain = plain[:plain.index("--contrastive-weight")]
    assert main([*plain, "--name", "plain", "--run-dir", str(tmp_path / "plain")]) == 0
    assert not _same_weights(_final(tmp_path / "plain"), _final(tmp_path / "straight"))


def test_teacher_student_trains_a_noise_conditioned_student_against_a_blind_teacher(crops, tmp_path) -> None:
    common = _teacher_student(crops, tmp_path)
    assert main([*common, "--noise-input", "--name", "tsnc", "--run-dir", str(tmp_path / "nc")]) == 0
    card = json.loads((tmp_path / "nc" / "tsnc.card.json").read_text())
    assert card["training"]["config"]["noise_input"]
    assert card["training"]["recipe"]["teacher"]["input"].startswith("normal dose only")
    teacher = load_file(str(tmp_path / "nc" / "teacher.safetensors"))
    student = load_file(str(_final(tmp_path / "nc")))
    first = next(k for k in student if k.startswith("head") and k.endswith("weight"))
    assert student[first].shape[1] == 2 and teacher[first].shape[1] == 1  # image + level vs image only
    row = json.loads((_final(tmp_path / "nc").parent / "state.json").read_text())["history"][-1]
    assert row["loss_consistency"] > 0 and 0 < row["loss_contrastive"] < 1


def test_teacher_student_resume_refuses_another_contrastive_weight(crops, tmp_path, capsys) -> None:
    common = _teacher_student(crops, tmp_path)
    assert main([*common, "--run-dir", str(tmp_path / "run"), "--stop-after", "2"]) == 0
    assert main([*common[:-4], "--contrastive-weight", "0.2", "--consistency-weight", "0.1",
                 "--run-dir", str(tmp_path / "run"), "--resume"]) == 1
    assert "contrastive_weight" in capsys.readouterr().err


def _unpaired(crops: dict[str, Path], tmp_path: Path) -> list[str]:
    return ["train", *TINY, "--steps", "4", "--data-dir", str(crops["chestA"].parent), "--low-dose-dir",
            str(crops["low"]), "--patient-pattern", "^([a-z]+)", "--cache-dir", str(tmp_path / "cache"),
            "--recipe", "unpaired"]


def test_unpaired_resumes_exactly_logs_both_losses_saves_samples_and_exports(crops, tmp_path, monkeypatch) -> None:
    common = [*_unpaired(crops, tmp_path), "--threads", "1", "--name", "cyc"]
    assert main([*common, "--run-dir", str(tmp_path / "straight")]) == 0
    assert main([*common, "--run-dir", str(tmp_path / "resumed"), "--stop-after", "1"]) == 0
    assert main([*common, "--run-dir", str(tmp_path / "resumed"), "--resume", "--export-dir",
                 str(tmp_path / "models")]) == 0
    weights = load_file(str(_final(tmp_path / "resumed")))
    assert {key.split(".")[0] for key in weights} == {"g", "f", "d_low", "d_normal"}
    assert _same_weights(_final(tmp_path / "straight"), _final(tmp_path / "resumed"))
    history = json.loads((_final(tmp_path / "straight").parent / "state.json").read_text())["history"]
    resumed = json.loads((_final(tmp_path / "resumed").parent / "state.json").read_text())["history"]
    assert [row["loss_discriminator"] for row in history] == [row["loss_discriminator"] for row in resumed]
    assert all(row["loss_generator"] > 0 and row["loss_discriminator"] > 0 for row in history)
    assert sorted(p.name for p in (tmp_path / "straight" / "samples").iterdir()) == ["step-00000002.png",
                                                                                   "step-00000004.png"]
    split = json.loads((tmp_path / "straight" / "split.json").read_text())
    patients = split["patients"]
    assert patients["validation"] and not set(patients["train"]) & set(patients["validation"])
    card = json.loads((tmp_path / "models" / "cyc.card.json").read_text())
    recipe = card["training"]["recipe"]
    assert recipe["name"] == "unpaired" and recipe["feature_network"]["network"].startswith("teacher encoder")
    assert recipe["patients_in_both_domains"] == [] and card["training"]["summary"].startswith("unpaired: ")
    monkeypatch.setenv("CTDENOISE_MODEL_DIRS", str(tmp_path / "models"))
    assert main(["denoise", str(crops["lidc"]), str(tmp_path / "out.nrrd"), "--model", "cyc", "--device", "cpu",
                 "--progress", "none"]) == 0


def test_unpaired_trains_a_noise_conditioned_generator_from_a_blind_model(crops, tmp_path, monkeypatch) -> None:
    common = [*_unpaired(crops, tmp_path), "--threads", "1"]
    assert main([*common, "--name", "blind", "--run-dir", str(tmp_path / "blind"), "--export-dir",
                 str(tmp_path / "models")]) == 0
    monkeypatch.setenv("CTDENOISE_MODEL_DIRS", str(tmp_path / "models"))
    assert main([*common, "--noise-input", "--init-from", "blind", "--name", "cycnc", "--run-dir",
                 str(tmp_path / "nc"), "--export-dir", str(tmp_path / "models")]) == 0
    card = json.loads((tmp_path / "models" / "cycnc.card.json").read_text())
    assert card["training"]["config"]["noise_input"] and card["training"]["initialised_from"]["model"] == "blind"
    assert card["training"]["recipe"]["noise_level"].startswith("each scan's estimated noise")
    weights = load_file(str(_final(tmp_path / "nc")))
    first = next(k for k in weights if k.startswith("g.head") and k.endswith("weight"))
    assert weights[first].shape[1] == 2 and weights["f" + first[1:]].shape[1] == 1  # only g reads the level
    assert main(["denoise", str(crops["lidc"]), str(tmp_path / "out.nrrd"), "--model", "cycnc", "--device", "cpu",
                 "--progress", "none"]) == 0


def test_unpaired_patches_carry_their_scans_estimated_noise_level(crops, tmp_path) -> None:
    from CTDenoiseLib.hu import HUNormalization
    from CTDenoiseLib.models.noise_channel import channel_value
    from CTDenoiseLib.noise.estimate import estimate_noise_std
    from CTDenoiseTrainingLib.recipes.unpaired_data import UnpairedBatches, prepare_volume
    from CTDenoiseTrainingLib.sources import Case

    lows = [prepare_volume(Case(path.stem, path.stem, "", str(path)), tmp_path) for path in
            sorted(crops["low"].iterdir())]
    normals = [prepare_volume(Case("lidc", "lidc", str(crops["lidc"])), tmp_path)]
    expected = {round(channel_value(float(np.nan_to_num(estimate_noise_std(np.load(c.normal)).std_hu))), 5)
                for c in lows}
    batches = UnpairedBatches(lows, normals, (8, 24, 24), 6, 0, 0, HUNormalization(), noise_input=True,
                              noise_level_jitter=0.0)
    low, normal = batches[3]
    assert low.shape[1] == normal.shape[1] == 2
    assert {round(float(v), 5) for v in low[:, 1].flatten(1).max(dim=1).values} <= expected
    assert bool((low[:, 1] == low[:, 1, :1, :1, :1]).all())  # constant over each patch
    assert len(expected) == 2  # two scans, two levels
    blind = UnpairedBatches(lows, normals, (8, 24, 24), 6, 0, 0, HUNormalization())
    assert blind[3][0].shape[1] == 1 and blind[3][1].shape[1] == 1


def test_generated_low_dose_gets_its_added_noise_combined_with_the_normal_scans_level() -> None:
    import torch

    from CTDenoiseTrainingLib.recipes.cycle_step import with_generated_level

    generator = torch.Generator().manual_seed(0)
    image = torch.rand((2, 1, 4, 32, 32), generator=generator)
    own = torch.tensor([0.3, 0.1])  # 30 and 10 HU
    normal = torch.cat([image, own[:, None, None, None, None].expand_as(image)], dim=1)
    added = torch.tensor([0.04, 0.0])[:, None, None, None, None]  # 40 HU and nothing, in normalised units
    fake = image + added * torch.randn(image.shape, generator=generator)
    stacked = with_generated_level(fake, normal)
    assert stacked.shape[1] == 2 and torch.equal(stacked[:, :1], fake)
    levels = stacked[:, 1].flatten(1)
    assert torch.allclose(levels[0], torch.full_like(levels[0], 0.5), atol=0.01)  # hypot(40, 30) HU = 50 HU
    assert torch.allclose(levels[1], torch.full_like(levels[1], 0.1))  # nothing added: the scan's own


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "CTDenoiseLib", *args]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.mark.parametrize("recipe", ["teacher-student", "unpaired"])
def test_two_rank_torchrun_resumes_exactly(recipe: str, crops, tmp_path) -> None:
    common = _unpaired(crops, tmp_path) if recipe == "unpaired" else _teacher_student(crops, tmp_path, threads=[])
    _torchrun([*common, "--run-dir", "straight"], tmp_path)
    _torchrun([*common, "--run-dir", "resumed", "--stop-after", "2"], tmp_path)
    done = _torchrun([*common, "--run-dir", "resumed", "--resume"], tmp_path)
    assert "resumed from" in done.stdout and '"event": "trained"' in done.stdout
    assert _same_weights(_final(tmp_path / "straight"), _final(tmp_path / "resumed"))
    assert json.loads((tmp_path / "resumed" / "run.json").read_text())["ranks"] == 2


def test_contrastive_ratio_is_bounded_and_prefers_the_normal_dose() -> None:
    import torch

    from CTDenoiseLib.models import ModelConfig, build_model
    from CTDenoiseTrainingLib.recipes.feature_space import FeatureSpace, contrastive_loss

    torch.manual_seed(0)
    network = build_model(ModelConfig("stresnet", 4, 1))
    space = FeatureSpace(network, "teacher", ["head", "blocks"])
    normal = torch.rand(1, 1, 4, 16, 16) + 0.5
    low = normal + 0.2 * torch.randn_like(normal)
    at_low = float(contrastive_loss(space, low.clone(), normal, low))
    at_normal = float(contrastive_loss(space, normal.clone(), normal, low))
    assert at_low == pytest.approx(1.0, abs=1e-5) and at_normal == pytest.approx(0.0, abs=1e-5)
    between = float(contrastive_loss(space, 0.5 * (low + normal), normal, low))
    assert at_normal < between < at_low


def test_divergence_watch_warns_then_stops_and_catches_non_finite_losses() -> None:
    from CTDenoiseTrainingLib.recipes.divergence import DivergenceWatch

    watch = DivergenceWatch(tolerance_db=3.0, patience=2)
    assert watch.validation(2, 40.0, float("-inf"), 0.3) == ([], False)
    assert watch.validation(4, 38.0, 40.0, 0.3) == ([], False)  # within tolerance
    warnings, stop = watch.validation(6, 36.0, 40.0, 0.3)
    assert len(warnings) == 1 and not stop
    warnings, stop = watch.validation(8, 35.0, 40.0, 0.001)
    assert stop and any("win outright" in w for w in warnings)
    assert watch.losses(9, {"generator": 1.0, "discriminator": float("nan")}).startswith("diverged at step 9")
    assert DivergenceWatch(3.0, 0).validation(2, 30.0, 40.0, 0.3)[1] is False  # patience 0: only warn
    keeping = DivergenceWatch(3.0, 0)
    assert keeping.validation(2, 40.0, float("-inf"), 0.3, psnr_gain_db=4.0) == ([], False)
    warnings, stop = keeping.validation(4, 40.0, 40.0, 0.3, psnr_gain_db=0.06)  # a denoiser that stopped denoising
    assert len(warnings) == 1 and "keeps the noise" in warnings[0] and not stop
    assert keeping.state()["events"][-1]["event"] == "generator keeps the noise"


def test_configuration_checks_of_the_recipes() -> None:
    from CTDenoiseTrainingLib.config import TrainConfig

    assert TrainConfig().recipe == "plain"
    for bad, message in (({"recipe": "dream"}, "recipe must be one of"),
                         ({"recipe": "unpaired", "z_upscale": 2, "patch": [16, 64, 64]}, "needs z_upscale 1"),
                         ({"recipe": "teacher-student", "contrastive_weight": 0.1, "feature_network": "vgg"},
                          "needs perceptual_weights"),
                         ({"recipe": "unpaired", "divergence_db": 0}, "divergence_db")):
        with pytest.raises(ValueError, match=message):
            TrainConfig.from_dict(bad)
