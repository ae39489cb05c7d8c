"""Training data and configuration: patient split, real pairs, lazily mapped cases, reproducible patches,
config files, losses, and no unpickling anywhere."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from CTDenoiseLib.simulation.low_dose import DoseSimulation  # noqa: E402
from CTDenoiseTrainingLib.config import TrainConfig, read_config_file  # noqa: E402
from CTDenoiseTrainingLib.losses import make_loss, ssim_3d  # noqa: E402
from CTDenoiseTrainingLib.patches import PatchBatches  # noqa: E402
from CTDenoiseTrainingLib.prepare import prepare_cases  # noqa: E402
from CTDenoiseTrainingLib.sources import cases_from_csv, cases_from_folders, gather_cases, split_by_patient  # noqa: E402

from conftest import REPO
from training_data_helpers import write_crops  # noqa: E402


def test_split_is_by_patient_and_reproducible(tmp_path: Path) -> None:
    for name in ("p1_a", "p1_b", "p2_a", "p3_a", "p4_a", "p4_b"):
        (tmp_path / f"{name}.nrrd").write_bytes(b"")
    cases = cases_from_folders(str(tmp_path), pattern=r"^(p\d+)_")
    train, validation = split_by_patient(cases, 0.25, seed=3)
    assert {c.patient for c in train}.isdisjoint({c.patient for c in validation})
    assert len({c.patient for c in validation}) == 1 and len(train) + len(validation) == 6
    assert split_by_patient(cases, 0.25, seed=3) == (train, validation)
    config = TrainConfig(train=[str(tmp_path / "p1_a.nrrd")], validation=[str(tmp_path / "p1_b.nrrd")],
                         patient_pattern=r"^(p\d+)_")
    with pytest.raises(ValueError, match="both training and validation"):
        gather_cases(config)


def test_real_pairs_by_name_and_by_csv(tmp_path: Path) -> None:
    (tmp_path / "nd").mkdir()
    (tmp_path / "ld").mkdir()
    for name in ("case1.nii.gz", "case2.nrrd"):
        (tmp_path / "nd" / name).write_bytes(b"")
    (tmp_path / "ld" / "case1.nii.gz").write_bytes(b"")
    with pytest.raises(ValueError, match="case2"):
        cases_from_folders(str(tmp_path / "nd"), str(tmp_path / "ld"))
    (tmp_path / "ld" / "case2.mha").write_bytes(b"")
    cases = cases_from_folders(str(tmp_path / "nd"), str(tmp_path / "ld"))
    assert [(c.name, Path(c.low).name) for c in cases] == [("case1", "case1.nii.gz"), ("case2", "case2.mha")]
    (tmp_path / "pairs.csv").write_text("patient,normal,low,split\nP1,nd/case1.nii.gz,ld/case1.nii.gz,train\n"
                                        "P2,nd/case2.nrrd,,validation\n")
    cases, split = cases_from_csv(str(tmp_path / "pairs.csv"))
    assert [c.patient for c in cases] == ["P1", "P2"] and cases[1].low == "" and split == {"case1": "train",
                                                                                          "case2": "validation"}
    assert Path(cases[0].low).is_absolute()


def test_config_files_json_and_yaml_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(json.dumps({"steps": 7, "patch": [8, 16, 16]}))
    (tmp_path / "c.yaml").write_text("steps: 9\npatch: [8, 16, 16]\nloss: l1+0.2*ssim\n")
    assert TrainConfig.from_dict(read_config_file(tmp_path / "c.json")).patch == (8, 16, 16)
    try:
        values = read_config_file(tmp_path / "c.yaml")
    except ValueError as error:  # no YAML reader installed: the message says how to get one
        assert "pip install" in str(error)
    else:
        assert TrainConfig.from_dict({**values, "steps": 3}).steps == 3
    with pytest.raises(ValueError, match="unknown configuration keys: stepz"):
        TrainConfig.from_dict({"stepz": 1})
    with pytest.raises(ValueError, match="multiple of z_upscale"):
        TrainConfig(patch=(7, 16, 16), z_upscale=2)


def test_patches_are_lazy_reproducible_and_keep_z(tmp_path: Path) -> None:
    paths = write_crops(tmp_path / "data")
    from CTDenoiseTrainingLib.sources import Case

    cases = [Case("chestA", "chest", str(paths["chestA"])), Case("abdomen", "abdomen", str(paths["abdomen"]))]
    prepared = prepare_cases(cases, DoseSimulation(), 1, 2, tmp_path / "cache", log=lambda _: None)
    normal = np.load(prepared[0].normal, mmap_mode="r")
    low = np.load(prepared[0].lows[0], mmap_mode="r")
    assert isinstance(normal, np.memmap) and normal.dtype == np.int16 and low.shape == (4, 48, 48)
    data = PatchBatches(prepared, (4, 16, 16), batch=3, seed=5, rank=0, z_upscale=2)
    low_batch, normal_batch = data[11]
    assert low_batch.shape == (3, 1, 2, 16, 16) and normal_batch.shape == (3, 1, 4, 16, 16)
    again = PatchBatches(prepared, (4, 16, 16), batch=3, seed=5, rank=0, z_upscale=2)
    assert torch.equal(again[11][0], low_batch) and not torch.equal(data[12][0], low_batch)
    assert not torch.equal(PatchBatches(prepared, (4, 16, 16), 3, seed=5, rank=1, z_upscale=2)[11][0], low_batch)
    # z keeps its meaning: each thick input slice is the mean of its two target slices up to the dose noise.
    plain = PatchBatches(prepared, (4, 16, 16), batch=8, seed=1, z_upscale=2)
    lows, normals = plain[0]
    pooled = normals.view(8, 1, 2, 2, 16, 16).mean(3)
    in_plane = normals.view(8, 1, 2, 2, 16, 16).mean(3).transpose(-1, -2)
    assert (lows - pooled).abs().mean() < (lows - in_plane).abs().mean()


def test_losses() -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 1, 6, 20, 20)
    assert abs(float(ssim_3d(x, x)) - 1.0) < 1e-5
    loss = make_loss("l1+0.5*ssim")
    assert float(loss(x, x)) == pytest.approx(0.0, abs=1e-5) and float(loss(x, x + 0.1)) > 0.1
    with pytest.raises(ValueError, match="unknown loss term"):
        make_loss("l2")
    with pytest.raises(ValueError, match="cannot download"):
        make_loss("l1+perceptual")


def test_perceptual_loss_runs_with_a_local_vgg_state_dict(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from CTDenoiseTrainingLib.losses import VGGFeatures

    torch.manual_seed(0)
    state = {k: v for k, v in VGGFeatures().state_dict().items() if k.startswith("features.")}
    save_file(state, str(tmp_path / "vgg.safetensors"))
    torch.save(state, tmp_path / "vgg.pth")
    for name in ("vgg.safetensors", "vgg.pth"):
        loss = make_loss("perceptual", str(tmp_path / name))
        x = torch.rand(1, 1, 2, 32, 32, requires_grad=True)
        value = loss(x, torch.rand(1, 1, 2, 32, 32))
        value.backward()
        assert value > 0 and x.grad is not None


def test_no_torch_load_without_weights_only() -> None:
    offenders = []
    for folder in ("CTDenoise", "CTDenoiseTraining"):
        for path in (REPO / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if re.search(r"torch\.load\(", line) and "weights_only=True" not in line:
                    offenders.append(f"{path.relative_to(REPO)}:{number}")
    assert not offenders, f"torch.load without weights_only=True (unpickles arbitrary objects): {offenders}"


def test_dataloader_workers_give_the_same_batches_as_the_main_process(tmp_path: Path) -> None:
    from torch.utils.data import DataLoader

    from CTDenoiseTrainingLib.sources import Case

    paths = write_crops(tmp_path / "data")
    prepared = prepare_cases([Case("chestA", "chest", str(paths["chestA"]))], DoseSimulation(), 1, 1,
                             tmp_path / "cache", log=lambda _: None)
    data = PatchBatches(prepared, (4, 16, 16), batch=2, seed=0)
    loader = DataLoader(data, batch_size=None, sampler=range(3, 7), num_workers=2)
    for step, (low, normal) in zip(range(3, 7), loader):
        assert torch.equal(low, data[step][0]) and torch.equal(normal, data[step][1])


def test_same_file_names_in_different_patient_folders_are_different_patients(tmp_path: Path) -> None:
    for patient in ("LIDC-IDRI-0001", "LIDC-IDRI-0003"):
        (tmp_path / patient).mkdir()
        (tmp_path / patient / "image.nrrd").write_bytes(b"")
    first, third = str(tmp_path / "LIDC-IDRI-0001/image.nrrd"), str(tmp_path / "LIDC-IDRI-0003/image.nrrd")
    train, validation = gather_cases(TrainConfig(train=[third], validation=[first]))
    assert (train[0].patient, validation[0].patient) == ("LIDC-IDRI-0003/image", "LIDC-IDRI-0001/image")
    with pytest.raises(ValueError, match="both training and validation"):
        gather_cases(TrainConfig(train=[first, third], validation=[first]))
    (tmp_path / "cases.csv").write_text("normal\nLIDC-IDRI-0001/image.nrrd\nLIDC-IDRI-0003/image.nrrd\n")
    cases, _ = cases_from_csv(str(tmp_path / "cases.csv"), pattern=r"^(LIDC-IDRI-\d+)")
    assert [c.patient for c in cases] == ["LIDC-IDRI-0001", "LIDC-IDRI-0003"]


def test_the_simulation_cache_key_follows_the_seed_that_made_it(tmp_path: Path) -> None:
    from CTDenoiseTrainingLib.prepare import case_key
    from CTDenoiseTrainingLib.sources import Case

    volume = tmp_path / "a.nrrd"
    volume.write_bytes(b"not read by case_key")
    simulated, paired = Case("a", "a", str(volume)), Case("a", "a", str(volume), low=str(volume))
    settings = DoseSimulation(dose=0.1, seed=0)
    assert case_key(simulated, 0, settings, 2, 1) == case_key(simulated, 0, settings, 2, 1)
    # Realisation seeds are derived from the case's position: another position must not reuse them.
    assert case_key(simulated, 0, settings, 2, 1) != case_key(simulated, 1, settings, 2, 1)
    assert case_key(simulated, 0, settings, 2, 1) != case_key(simulated, 0, DoseSimulation(dose=0.1, seed=1), 2, 1)
    assert case_key(paired, 0, settings, 2, 1) == case_key(paired, 3, settings, 2, 1)  # real pairs: no seed


def test_the_simulation_cache_follows_the_content_of_the_sources_not_their_path_or_time(tmp_path: Path) -> None:
    import os
    import shutil

    from CTDenoiseTrainingLib.prepare import case_key
    from CTDenoiseTrainingLib.sources import Case

    settings = DoseSimulation(dose=0.1, seed=0)
    original = tmp_path / "first" / "a.nrrd"
    original.parent.mkdir()
    original.write_bytes(b"volume bytes")
    key = case_key(Case("a", "a", str(original)), 0, settings, 2, 1)
    copy = tmp_path / "copied" / "a.nrrd"  # the data folder copied again, with a fresh modification time
    copy.parent.mkdir()
    shutil.copy(original, copy)
    os.utime(copy, (1, 1))
    assert case_key(Case("a", "a", str(copy)), 0, settings, 2, 1) == key
    copy.write_bytes(b"volume bytez")  # same size, other content
    assert case_key(Case("a", "a", str(copy)), 0, settings, 2, 1) != key
