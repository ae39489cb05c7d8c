"""The sample data set: a simulated 10 %-dose chest CT with a lung nodule and its segmentation.

Made from LIDC-IDRI-0001 (TCIA, CC BY 3.0; Armato et al. 2011, Med Phys 38:915): 16 slices of the normal-dose
series with projection-domain noise inserted for 10 % dose (``ctdenoise simulate --dose 0.1 --seed 0``), and the
nodule voxels marked by at least two of the four LIDC readers. See docs/slicer.md for how the files were made.
"""

from __future__ import annotations

import os

CATEGORY = "CTDenoise"
SAMPLE_NAME = "CTDenoise low-dose chest with nodule"
RELEASE_URL = "https://github.com/ctdenoise/SlicerCTDenoise/releases/download/sample-data-v1/"
FILES = (
    # file name, SHA-256, node name, Slicer file type
    ("CTDenoiseSample-LIDC0001-10pct.nrrd", "4a2563533ffab3caa6330f111321993753343fc513eefa8cbc3ff81313e5635d", "LIDC-IDRI-0001 10% dose", "VolumeFile"),
    ("CTDenoiseSample-LIDC0001-nodule.nrrd", "c296bc7514bb6c016fabe70fe6516aa41a56bd6408ecbfd385c94c418ed1311a", "LIDC-IDRI-0001 nodule", "SegmentationFile"),
)


def register() -> None:
    """Add the sample to the Sample Data module (called once Slicer has started)."""
    import SampleData

    icon = os.path.join(os.path.dirname(os.path.dirname(__file__)), "Resources", "Icons", "CTDenoiseSample.png")
    SampleData.SampleDataLogic.registerCustomSampleDataCategory(CATEGORY, title=CATEGORY)
    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category=CATEGORY,
        sampleName=SAMPLE_NAME,
        thumbnailFileName=icon,
        uris=[RELEASE_URL + name for name, _, _, _ in FILES],
        fileNames=[name for name, _, _, _ in FILES],
        nodeNames=[node for _, _, node, _ in FILES],
        checksums=[f"SHA256:{digest}" for _, digest, _, _ in FILES],
        loadFileTypes=[kind for _, _, _, kind in FILES],
    )
