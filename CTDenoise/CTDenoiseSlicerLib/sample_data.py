"""The sample data: a simulated 10 %-dose chest CT with a lung nodule and its segmentation, shipped with the
module so that it loads (and the self-test runs) without network access.

Made from LIDC-IDRI-0003 (TCIA, CC BY 3.0; Armato et al. 2011, Med Phys 38:915), the patient the shipped models
never saw: projection-domain noise for 10 % dose inserted into the normal-dose scan (the low dose is simulated:
``ctdenoise simulate --dose 0.1 --seed 0``), cropped to 192 x 192 pixels around the nodule, all 11 slices; and the
nodule voxels marked by at least two of the four LIDC readers. docs/slicer.md says how the files were made.

SampleData copies each file into Slicer's cache from a ``file://`` URI and checks its SHA-256, exactly as for a
download. A larger sample (16 whole slices of LIDC-IDRI-0001) stays available as an optional download.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CATEGORY = "CTDenoise"
SAMPLE_NAME = "CTDenoise low-dose chest with nodule"
LARGER_SAMPLE_NAME = "CTDenoise low-dose chest, 16 whole slices (download)"
MODULE_DIR = Path(__file__).resolve().parents[1]
SAMPLE_DIR = MODULE_DIR / "Resources" / "SampleData"
THUMBNAIL = MODULE_DIR / "Resources" / "Icons" / "CTDenoiseSample.png"
RELEASE_URL = "https://github.com/ctdenoise/SlicerCTDenoise/releases/download/sample-data-v1/"


@dataclass(frozen=True)
class SampleFile:
    file_name: str
    sha256: str
    node_name: str
    file_type: str  # Slicer's reader: VolumeFile or SegmentationFile


SHIPPED = (
    SampleFile("CTDenoiseSample-LIDC0003-10pct.nrrd",
               "91cca9b7cb38257d16dbf77945e2a4c9d616abcc0033255d4678c8bf4d077e96",
               "LIDC-IDRI-0003 10% dose (simulated)",
               "VolumeFile"),
    SampleFile("CTDenoiseSample-LIDC0003-nodule.nrrd",
               "a83c1271741152bf785f9eb28c74e477e7b931d81ff91c3472f5b294d9ab31ed", "LIDC-IDRI-0003 nodule",
               "SegmentationFile"),
)
DOWNLOAD = (
    SampleFile("CTDenoiseSample-LIDC0001-10pct.nrrd",
               "4a2563533ffab3caa6330f111321993753343fc513eefa8cbc3ff81313e5635d",
               "LIDC-IDRI-0001 10% dose (simulated)",
               "VolumeFile"),
    SampleFile("CTDenoiseSample-LIDC0001-nodule.nrrd",
               "c296bc7514bb6c016fabe70fe6516aa41a56bd6408ecbfd385c94c418ed1311a", "LIDC-IDRI-0001 nodule",
               "SegmentationFile"),
)


def sources() -> list[dict]:
    """Keyword arguments of ``SampleDataLogic.registerCustomSampleDataSource`` for each sample, shipped first."""
    def entry(name: str, files: tuple[SampleFile, ...], uris: list[str]) -> dict:
        return dict(category=CATEGORY, sampleName=name, thumbnailFileName=str(THUMBNAIL), uris=uris,
                    fileNames=[f.file_name for f in files], nodeNames=[f.node_name for f in files],
                    checksums=[f"SHA256:{f.sha256}" for f in files], loadFileTypes=[f.file_type for f in files])

    return [entry(SAMPLE_NAME, SHIPPED, [(SAMPLE_DIR / f.file_name).as_uri() for f in SHIPPED]),
            entry(LARGER_SAMPLE_NAME, DOWNLOAD, [RELEASE_URL + f.file_name for f in DOWNLOAD])]


def register(sample_data_logic=None) -> None:
    """Add the samples to the Sample Data module (called once Slicer has started).

    Args:
        sample_data_logic: ``SampleData.SampleDataLogic``; injected for tests.
    """
    if sample_data_logic is None:
        import SampleData

        sample_data_logic = SampleData.SampleDataLogic
    for source in sources():
        sample_data_logic.registerCustomSampleDataSource(**source)
