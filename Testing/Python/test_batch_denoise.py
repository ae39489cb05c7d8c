"""Batch denoising: a folder or several inputs into an output folder, one JSON line per file, a bad file does not
stop the rest, and torchrun ranks each take their share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from CTDenoiseLib.io.batch import Rank, expand_inputs, is_batch, output_names

from tiny_models import real_ct, register_tiny_models, write_crop


@pytest.fixture
def batch_folder(tmp_path: Path) -> Path:
    """Two small real volumes and one file that is not an image, in one folder."""
    source = real_ct("lidc/LIDC-IDRI-0002/image.nrrd")
    folder = tmp_path / "inputs"
    folder.mkdir()
    write_crop(source, folder / "a.nrrd", slice(0, 6), slice(200, 248), slice(200, 248))
    write_crop(source, folder / "b.nii.gz", slice(4, 10), slice(220, 268), slice(180, 228))
    (folder / "broken.nrrd").write_text("not an image")
    return folder


def _environment(tmp_path: Path, **extra: str) -> dict:
    models = register_tiny_models(tmp_path / "models")
    return {**os.environ, "CTDENOISE_MODEL_DIRS": str(models), "OMP_NUM_THREADS": "1", **extra}


def _file_events(stdout: str) -> list[dict]:
    return [event for event in map(json.loads, filter(lambda line: line.startswith("{"), stdout.splitlines()))
            if event["event"] == "file"]


def test_folder_batch_reports_each_file_and_survives_a_bad_one(tmp_path: Path, batch_folder: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "CTDenoiseLib", "denoise", str(batch_folder), str(out), "--backend", "torch",
               "--progress", "none"]
    process = subprocess.run(command, capture_output=True, text=True, env=_environment(tmp_path), timeout=120)
    assert process.returncode == 1, process.stderr
    events = {Path(event["input"]).name: event for event in _file_events(process.stdout)}
    assert set(events) == {"a.nrrd", "b.nii.gz", "broken.nrrd"}
    assert events["broken.nrrd"]["status"] == "failed" and "Cannot read" in events["broken.nrrd"]["error"]
    assert events["a.nrrd"]["status"] == events["b.nii.gz"]["status"] == "ok"
    assert sorted(path.name for path in out.iterdir()) == ["a.nrrd", "b.nrrd"]
    assert "1 of 3 input(s) failed" in process.stderr


def test_torchrun_two_ranks_share_the_inputs(tmp_path: Path, batch_folder: Path) -> None:
    pytest.importorskip("torch.distributed.run")
    inputs = [str(batch_folder / "a.nrrd"), str(batch_folder / "b.nii.gz"), str(batch_folder / "a.nrrd")]
    out = tmp_path / "out"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "CTDenoiseLib", "denoise", *inputs, str(out), "--backend", "torch", "--progress", "none"]
    process = subprocess.run(command, capture_output=True, text=True, env=_environment(tmp_path), timeout=180)
    assert process.returncode == 0, process.stderr[-2000:]
    events = _file_events(process.stdout)
    assert sorted((event["rank"], Path(event["input"]).name) for event in events) == [(0, "a.nrrd"), (1, "b.nii.gz")]
    summary = [json.loads(line) for line in process.stdout.splitlines() if '"batch"' in line]
    assert summary == [{"event": "batch", "files": 2, "ok": 2, "failed": 0, "ranks": 2}]


def test_expansion_naming_and_sharding(tmp_path: Path) -> None:
    dicom = real_ct("lidc/LIDC-IDRI-0003/dicom")
    assert not is_batch([str(dicom)])  # a DICOM series folder is one volume
    folder = tmp_path / "many"
    folder.mkdir()
    for name in ("x.nrrd", "y.mha", "notes.txt", ".hidden.nrrd"):
        (folder / name).write_text("")
    (folder / "series").symlink_to(dicom, target_is_directory=True)
    assert is_batch([str(folder)])
    assert [path.name for path in expand_inputs([str(folder)])] == ["series", "x.nrrd", "y.mha"]
    names = output_names([Path("a/ct.nii.gz"), Path("b/ct.nrrd"), dicom], tmp_path, ".nrrd")
    assert [path.name for path in names] == ["ct.nrrd", "ct-2.nrrd", "dicom.nrrd"]
    assert Rank(1, 3).share(list(range(8))) == [1, 4, 7]
    with pytest.raises(Exception, match="RANK"):
        os.environ["RANK"], os.environ["WORLD_SIZE"] = "2", "2"
        try:
            Rank.from_environment()
        finally:
            del os.environ["RANK"], os.environ["WORLD_SIZE"]
