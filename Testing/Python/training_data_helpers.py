"""Small real CT crops for the training tests (not a test module: no test_ prefix)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from conftest import shared_path as shared


def write_crops(folder: Path) -> dict[str, Path]:
    """Three 8x48x48 training crops (two of one patient) and one 8x64x64 LIDC validation crop, as NRRD."""
    from CTDenoiseLib.io.volumes import Volume, read_volume, write_volume

    chest = read_volume(shared("totalsegmentator/chest_crop_1p5mm.nii.gz"))
    abdomen = read_volume(shared("totalsegmentator/abdomen_3mm.nii.gz"))
    lidc = read_volume(shared("lidc/LIDC-IDRI-0002/image.nrrd"))

    def crop(volume: Volume, z: int, y: int, x: int, depth: int = 8, side: int = 48) -> Volume:
        array = np.ascontiguousarray(volume.array[z:z + depth, y:y + side, x:x + side]).astype(np.int16)
        return Volume(array, volume.spacing, volume.origin, volume.direction)

    normal = folder / "normal"
    normal.mkdir(parents=True, exist_ok=True)
    paths = {"chestA": normal / "chestA.nrrd", "chestB": normal / "chestB.nrrd", "abdomen": normal / "abdomen.nrrd",
             "lidc": folder / "lidc0002.nrrd"}
    write_volume(crop(chest, 60, 40, 36), paths["chestA"])
    write_volume(crop(chest, 100, 40, 36), paths["chestB"])
    write_volume(crop(abdomen, 50, 30, 40), paths["abdomen"])
    write_volume(crop(lidc, 2, 224, 224, 8, 64), paths["lidc"])
    return paths


# A tiny network and schedule: a training run end to end in seconds.
TINY = ["--architecture", "stresnet", "--features", "4", "--blocks", "1", "--patch", "8", "24", "24", "--batch", "2",
        "--realisations", "1", "--validate-every", "2", "--checkpoint-every", "2", "--int8", "off",
        "--tensorboard", "off"]


def same_weights(a: Path, b: Path) -> bool:
    """Whether two safetensors files hold the same tensors, bit for bit."""
    from safetensors.torch import load_file

    left, right = load_file(str(a)), load_file(str(b))
    return set(left) == set(right) and all(np.array_equal(left[k].numpy(), right[k].numpy()) for k in left)


def final_weights(run: Path) -> Path:
    """The weights of a run folder's latest checkpoint."""
    latest = json.loads((run / "checkpoints" / "latest.json").read_text())
    return run / "checkpoints" / latest["folder"] / "model.safetensors"
