"""Build the offline sample shipped in CTDenoise/Resources/SampleData: a crop around the nodule of LIDC-IDRI-0003
with simulated 10 % dose, and the nodule mask on the same grid.

    ctdenoise simulate ../shared/data/lidc/LIDC-IDRI-0003/image.nrrd build/sample-data/lidc0003-10pct-full.nrrd \
        --dose 0.1 --seed 0
    python Testing/Python/slicer_sample_build.py build/sample-data/lidc0003-10pct-full.nrrd \
        ../shared/data/lidc/LIDC-IDRI-0003/nodule_consensus50.nrrd CTDenoise/Resources/SampleData

Then update the SHA-256 in ``CTDenoiseSlicerLib/sample_data.py`` (the script prints them).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

CROP_XY = 192  # in-plane size of the crop, pixels; all slices are kept
VOLUME_NAME = "CTDenoiseSample-LIDC0003-10pct.nrrd"
MASK_NAME = "CTDenoiseSample-LIDC0003-nodule.nrrd"


def crop_box(mask: sitk.Image, size: int = CROP_XY) -> tuple[list[int], list[int]]:
    """Index and size of a ``size`` x ``size`` in-plane box centred on the mask's voxels, inside the image.

    Args:
        mask: the nodule label map.
        size: in-plane edge of the box in pixels.
    """
    z, y, x = np.nonzero(sitk.GetArrayViewFromImage(mask))
    if not len(x):
        raise ValueError("the nodule mask is empty")
    width, height, depth = mask.GetSize()
    start = [int(np.clip(round((x.min() + x.max()) / 2) - size // 2, 0, width - size)),
             int(np.clip(round((y.min() + y.max()) / 2) - size // 2, 0, height - size)), 0]
    return start, [size, size, depth]


def build(low_dose: Path, mask_path: Path, out_dir: Path) -> dict[str, str]:
    """Write the cropped volume and mask (gzip NRRD) and return their SHA-256 by file name.

    Args:
        low_dose: the simulated low-dose volume (``ctdenoise simulate`` output).
        mask_path: the nodule label map on the same grid.
        out_dir: where the two files are written.
    """
    image, mask = sitk.ReadImage(str(low_dose)), sitk.ReadImage(str(mask_path))
    if image.GetSize() != mask.GetSize():
        raise ValueError("the volume and the mask are not on the same grid")
    start, size = crop_box(mask)
    out_dir.mkdir(parents=True, exist_ok=True)
    digests = {}
    for crop, name in ((sitk.RegionOfInterest(image, size, start), VOLUME_NAME),
                       (sitk.RegionOfInterest(sitk.Cast(mask > 0, sitk.sitkUInt8), size, start), MASK_NAME)):
        path = out_dir / name
        sitk.WriteImage(crop, str(path), useCompression=True)
        digests[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: slicer_sample_build.py LOW_DOSE.nrrd NODULE_MASK.nrrd OUT_DIR")
    for file_name, digest in build(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])).items():
        print(f"{file_name} {digest} {(Path(sys.argv[3]) / file_name).stat().st_size} bytes")
