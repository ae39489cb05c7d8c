"""Small real CT crops for the training tests (not a test module: no test_ prefix)."""

from __future__ import annotations

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
