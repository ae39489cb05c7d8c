"""The second round of bad and unusual inputs (issue 31), held as data like ``test_reliability_corpus.py``: batch
outputs that would replace an input or each other, output names ITK cannot read back, float and half-outside label
masks, DICOM folders with broken links, gantry tilt, localizers and mixed orientations, geometry NIfTI cannot hold,
physically implausible voxel values and voxel sizes, special files, and the messages that misled.

Each case builds its inputs in a temporary folder, runs one command line (in this process, or in a child process
where it needs a limit or could hang), and checks the exit status, the one stderr line (matched against a
fragment), stdout where the answer is a note, that every input is byte for byte unchanged, and that the output
folder holds exactly the expected entries (files and folders, hidden ones too).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from CTDenoiseLib.cli import main

from conftest import SHARED_DATA
from test_reliability_corpus import AXIAL, LIDC3, ct_array, image, run_in_process, snapshot
from tiny_models import register_tiny_models

TILT = math.radians(20.0)


# ---- volumes ------------------------------------------------------------------------------------------------------
def scanner_ct(shape=(8, 48, 48), seed: int = 0, body: float = 0.42) -> np.ndarray:
    """HU as a scanner stores them: the ``ct_array`` body, air clipped at -1024 HU (the scanner's floor) and the
    corners outside the circular field of view padded with -2048 HU (as LIDC)."""
    _, y, x = np.mgrid[0:shape[0], 0:shape[1], 0:shape[2]]
    centre = shape[1] / 2
    hu = np.full(shape, -1000.0, np.float32)
    hu[(y - centre) ** 2 + (x - centre) ** 2 < (shape[1] * body) ** 2] = 40
    hu[(y - centre) ** 2 + (x - centre * 0.7) ** 2 < (shape[1] * 0.14) ** 2] = -850
    hu = np.maximum(hu + np.random.default_rng(seed).normal(0, 40, shape), -1024)
    hu[(y - centre) ** 2 + (x - centre) ** 2 >= centre ** 2] = -2048
    return hu.astype(np.int16)


def water_phantom_stored(folder: Path) -> Path:
    """A water disk in air stored as HU + 1000 without a rescale (as the MITA phantom's .mhd files): air 0 and
    water 1000, both with 40 of noise."""
    _, y, x = np.mgrid[0:8, 0:48, 0:48]
    stored = np.where((y - 24) ** 2 + (x - 24) ** 2 < 20 ** 2, 1000.0, 0.0)
    return image(folder, "phantom.mha", (stored + np.random.default_rng(4).normal(0, 40, stored.shape))
                 .astype(np.int16))


def big_body(scale: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """A body that fills most of the field of view, in HU times ``scale`` plus ``offset``."""
    return scanner_ct(body=0.48).astype(np.float32) * scale + offset


def touch(path: Path) -> Path:
    path.write_text("a file, not a folder")
    return path


def label_mask(folder: Path, name: str, values: np.ndarray, origin=(0.0, 0.0, 0.0), spacing=(0.8, 0.8, 2.0)) -> Path:
    return image(folder, name, values, spacing=spacing, origin=origin)


def nodule(dtype=np.uint8, value: float = 1) -> np.ndarray:
    mask = np.zeros((8, 48, 48), dtype)
    mask[2:6, 20:30, 20:30] = value
    return mask


def nifti_pixdim_zero(folder: Path) -> Path:
    path = image(folder, "ct.nii", ct_array())
    data = bytearray(path.read_bytes())
    data[76 + 4 * 3: 80 + 4 * 3] = struct.pack("<f", 0.0)  # pixdim[3]: the slice spacing
    path.write_bytes(bytes(data))
    return path


SHEARED = (1.0, 0.0, 0.0, 0.0, 1.0, math.sin(TILT), 0.0, 0.0, math.cos(TILT))  # z axis tilted 20 degrees towards y


# ---- DICOM series (LIDC-IDRI-0003, 11 slices) ---------------------------------------------------------------------
def lidc_copy(folder: Path, name: str = "series") -> Path:
    if not LIDC3.exists():
        pytest.skip(f"real CT data not found at {LIDC3} (../shared is absent, e.g. in a fresh clone)")
    target = folder / name
    target.mkdir()
    for path in sorted(LIDC3.iterdir()):
        shutil.copyfile(path, target / path.name)
    return target


def edit_slices(series: Path, edit: Callable) -> Path:
    import pydicom

    for path in sorted(series.iterdir()):
        dataset = pydicom.dcmread(path)
        edit(dataset)
        dataset.save_as(path)
    return series


def tilted(folder: Path) -> Path:
    """Gantry tilt: the image plane tilted by 20 degrees about x, the slices still stacked along the table (z)."""
    def tilt(dataset) -> None:
        dataset.ImageOrientationPatient = [1, 0, 0, 0, round(math.cos(TILT), 6), round(-math.sin(TILT), 6)]
    return edit_slices(lidc_copy(folder), tilt)


def with_extra_image(folder: Path, rows: int, orientation: list[float], name: str) -> Path:
    """The series plus one more image of the same series: a localizer of another size, or a reformat."""
    import pydicom
    from pydicom.uid import generate_uid

    series = lidc_copy(folder)
    first = sorted(series.iterdir())[0]
    dataset = pydicom.dcmread(first)
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    dataset.ImageOrientationPatient = orientation
    dataset.ImagePositionPatient = [-200.0, 0.0, -100.0]
    if rows != dataset.Rows:
        dataset.Rows = dataset.Columns = rows
        dataset.PixelData = np.zeros((rows, rows), np.int16).tobytes()
    dataset.save_as(series / name)
    return series


def dangling_link(folder: Path) -> Path:
    series = lidc_copy(folder)
    (series / "slice_z-206.500000.dcm").symlink_to(folder / "moved-away.dcm")
    return series


def fifo_in_series(folder: Path) -> Path:
    series = lidc_copy(folder)
    os.mkfifo(series / "slice_z-206.500000.dcm")  # GDCM stops listing the folder at it
    return series


def folder_with_a_fifo(folder: Path) -> Path:
    scans = folder / "scans"
    scans.mkdir()
    image(scans, "ct.nrrd", ct_array())
    os.mkfifo(scans / "pipe.nrrd")
    return scans


def fifo(folder: Path) -> Path:
    os.mkfifo(folder / "pipe.nrrd")
    return folder / "pipe.nrrd"


def device_link(folder: Path) -> Path:
    (folder / "zero.nrrd").symlink_to("/dev/zero")
    return folder / "zero.nrrd"


def folder_named_like_a_volume(folder: Path) -> Path:
    (folder / "scan.nrrd").mkdir()
    (folder / "scan.nrrd" / "notes.txt").write_text("not a DICOM series")
    return folder / "scan.nrrd"


def _two_scans(folder: Path, first: str, second: str) -> dict:
    scans = folder / "scans"
    scans.mkdir()
    image(scans, first, ct_array(seed=1))
    image(scans, second, ct_array(seed=2))
    return {"input": scans}


def same_folder_two_scans(folder: Path) -> dict:
    """One folder holding two different scans, ct.nii.gz and ct.nrrd."""
    return _two_scans(folder, "ct.nii.gz", "ct.nrrd")


def three_same_stems(folder: Path) -> dict:
    for sub, name, seed in (("a", "ct.nrrd", 1), ("b", "ct.nrrd", 2), ("c", "ct-2.nrrd", 3)):
        (folder / sub).mkdir()
        image(folder / sub, name, ct_array(seed=seed))
    return {"a": folder / "a/ct.nrrd", "b": folder / "b/ct.nrrd", "c": folder / "c/ct-2.nrrd"}


def case_differing_stems(folder: Path) -> dict:
    for sub, name, seed in (("a", "CT.nrrd", 1), ("b", "ct.nrrd", 2)):
        (folder / sub).mkdir()
        image(folder / sub, name, ct_array(seed=seed))
    return {"a": folder / "a/CT.nrrd", "b": folder / "b/ct.nrrd"}


def case_twins_in_one_folder(folder: Path) -> dict:
    """CT.nii.gz and ct.nrrd: on a case-insensitive file system CT.nrrd would be ct.nrrd."""
    return _two_scans(folder, "CT.nii.gz", "ct.nrrd")


def explicit_input_beside_another_scan(folder: Path) -> dict:
    scans = folder / "scans"
    scans.mkdir()
    image(scans, "a.nii.gz", ct_array(seed=1))
    image(scans, "a.nrrd", ct_array(seed=2))  # another scan, not named on the command line
    image(scans, "b.nii.gz", ct_array(seed=3))
    return {"a": scans / "a.nii.gz", "b": scans / "b.nii.gz", "scans": scans}


def two_volumes(folder: Path) -> dict:
    return {"a": image(folder, "a.nrrd", ct_array(seed=1)), "b": image(folder, "b.nrrd", ct_array(seed=2))}


def good_with_file(folder: Path) -> dict:
    return {"input": image(folder, "ct.nrrd", ct_array()), "file": touch(folder / "file")}


def good_with_masks(folder: Path) -> dict:
    origin_half_out = (23 * 0.8, 0.0, 0.0)  # 5 of the nodule's 10 columns lie beyond the image's last one
    return {"input": image(folder, "ct.nrrd", ct_array()),
            "float": label_mask(folder, "float.nrrd", nodule(np.float32, 0.7)),
            "float_whole": label_mask(folder, "float_whole.nrrd", nodule(np.float32, 1.0)),
            "half_out": label_mask(folder, "half_out.nrrd", nodule(), origin=origin_half_out, spacing=(0.8, 0.8, 1.0)),
            "file": touch(folder / "file")}


def in_metres(folder: Path) -> dict:
    return {"input": image(folder, "ct.nrrd", ct_array(), spacing=(0.0008, 0.0008, 0.002)),
            "good": image(folder, "good.nrrd", ct_array()),
            "mask": label_mask(folder, "mask.nrrd", nodule(), spacing=(0.0008, 0.0008, 0.002))}


def raw_stored_with_padding(folder: Path) -> dict:
    stored = scanner_ct().astype(np.int32) + 1024  # the rescale intercept (-1024) not applied: padding -1024
    return {"input": image(folder, "raw.nrrd", stored.astype(np.int16)),
            "mask": label_mask(folder, "mask.nrrd", nodule())}


def lidc_series(folder: Path) -> dict:
    return {"input": lidc_copy(folder)}


def lidc_series_and_a_volume(folder: Path) -> dict:
    return {"input": lidc_copy(folder), "other": image(folder, "ct.nrrd", ct_array())}


def values(name: str, array: Callable[[], np.ndarray]) -> Callable[[Path], dict]:
    return lambda folder: {"input": image(folder, name, array().astype(np.int16))}


def one(builder: Callable[[Path], Path]) -> Callable[[Path], dict]:
    return lambda folder: {"input": builder(folder)}


@dataclass(frozen=True)
class Case:
    """One line of the corpus. ``command`` may name {out} (the empty output folder), {in} (the inputs' folder) and
    the keys ``build`` returns; ``outputs``: every entry expected below {out} afterwards (relative paths)."""

    name: str
    build: Callable[[Path], dict]
    command: str
    exit: int
    message: str = ""  # a fragment of the one stderr line; empty for success
    stdout: str = ""  # a fragment stdout must hold
    outputs: tuple[str, ...] = ()
    env: dict = field(default_factory=dict)
    process: str = ""  # run in a child process: "plain", or "small files" (file size limited to 300 kB)
    tiny_models: bool = False  # the tiny untrained models instead of the shipped ones (fast on 512x512 DICOM)
    needs: str = ""  # a module the command needs (skip without it)


D = "denoise {input} {out}/d.nrrd --progress none"
DICOM_OUT = "denoise {input} {out}/series --output-format dicom --progress none --precision fp32 --backend torch"
R = "radiomics --image {input} --mask {mask} --output-dir {out}/r --no-figure --progress none"
E = "evaluate --no-lpips --reference {input} --image {input}"
NOT_HU = "does not look like CT in Hounsfield units"
CORPUS = [
    # batch: plan every output before writing any
    Case("batch into its own input folder", same_folder_two_scans, "denoise {input} {input} --progress none", 1,
         r"Output '.*ct\.nrrd' .*would replace the input '.*ct\.nrrd'"),
    Case("batch into its own folder, names equal but for case", case_twins_in_one_folder,
         "denoise {input} {input} --progress none", 1, r"would replace the input .*ct\.nrrd"),
    Case("batch beside an input: another scan of that name", explicit_input_beside_another_scan,
         "denoise {a} {b} {scans} --progress none", 1, r"would replace '.*a\.nrrd' in the folder of input"),
    Case("batch names: a/ct b/ct c/ct-2 give three outputs", three_same_stems,
         "denoise {a} {b} {c} {out} --progress none", 0, outputs=("ct.nrrd", "ct-2.nrrd", "ct-3.nrrd")),
    Case("batch names equal but for case", case_differing_stems, "denoise {a} {b} {out} --progress none", 0,
         outputs=("CT.nrrd", "ct-2.nrrd")),
    Case("batch into a folder inside an input DICOM series", lidc_series_and_a_volume,
         "denoise {input} {other} {input}/denoised --progress none", 1,
         r"into '.*series/denoised', inside the DICOM series folder", tiny_models=True),
    Case("batch with a stray RANK/WORLD_SIZE", two_volumes, "denoise {a} {b} {out}/res --progress none", 1,
         "WORLD_SIZE=2 .*MASTER_ADDR", env={"RANK": "0", "WORLD_SIZE": "2"}),
    # outputs read back as named
    Case("output .Nii", one(lambda f: image(f, "ct.nrrd", ct_array())), "denoise {input} {out}/d.Nii", 1,
         r"lower case.*d\.nii"),
    Case("output .nii.GZ", one(lambda f: image(f, "ct.nrrd", ct_array())), "denoise {input} {out}/d.nii.GZ", 1,
         r"lower case.*d\.nii\.gz"),
    Case("input .MHA is read", one(lambda f: image(f, "ct.mha", ct_array()).rename(f / "CT.MHA")), D, 0,
         outputs=("d.nrrd",)),
    Case("input .Nii (mixed case NIfTI)", one(lambda f: image(f, "ct.nii", ct_array()).rename(f / "ct.Nii")), D, 1,
         r"Rename it to 'ct\.nii'"),
    # geometry an output cannot hold
    Case("non-orthogonal axes to NIfTI", one(lambda f: image(f, "sheared.nrrd", ct_array(), direction=SHEARED)),
         "denoise {input} {out}/d.nii.gz --progress none", 1, r"axes meet at 70\.0 degrees.*\.nrrd or \.mha"),
    Case("non-orthogonal axes to NRRD are kept", one(lambda f: image(f, "sheared.nrrd", ct_array(),
                                                                     direction=SHEARED)), D, 0, outputs=("d.nrrd",)),
    Case("NIfTI pixdim 0", one(nifti_pixdim_zero), D, 1, r"pixdim\[3\] = 0.*1\.0 mm"),
    # physically implausible voxel values (denoise, simulate, evaluate, radiomics)
    Case("stored values with padding, intercept missing", raw_stored_with_padding, D, 1, NOT_HU + ".*0.5th"),
    Case("simulate: stored values with padding", raw_stored_with_padding,
         "simulate {input} {out}/low.nrrd --dose 0.5 --progress none", 1, NOT_HU),
    Case("evaluate: stored values with padding", raw_stored_with_padding, E, 1, "reference .*" + NOT_HU),
    Case("radiomics: stored values with padding", raw_stored_with_padding, R, 1, NOT_HU, needs="radiomics"),
    Case("phantom stored as HU + 1000", one(water_phantom_stored), D, 1, r"850\.\.1150 HU.*intercept"),
    Case("rescale intercept applied twice", values("twice.nrrd", lambda: big_body(offset=-1024)), D, 1,
         r"below -1400 HU with a peak at -18\d\d HU, a second air"),
    Case("HU times 10", values("times10.nrrd", lambda: big_body(scale=10)), D, 1, r"with a peak at -8\d\d\d HU"),
    # physically implausible voxel sizes (denoise, simulate, evaluate, radiomics)
    Case("spacing in metres", in_metres, D, 1, r"voxels of 0\.0008 x 0\.0008 x 0\.002 mm.*0\.1-10 mm"),
    Case("spacing in cm", one(lambda f: image(f, "cm.nrrd", ct_array(), spacing=(0.08, 0.08, 0.2))), D, 1,
         r"voxels of 0\.08 x 0\.08 x 0\.2 mm.*centimetres"),
    Case("spacing in micrometres", one(lambda f: image(f, "um.nrrd", ct_array(), spacing=(800.0, 800.0, 2000.0))), D,
         1, "voxels of 800 x 800 x 2000 mm"),
    Case("simulate: spacing in metres", in_metres, "simulate {input} {out}/low.nrrd --dose 0.5 --progress none", 1,
         "voxels of 0.0008"),
    Case("evaluate: spacing in metres", in_metres, E, 1, "reference .*voxels of 0.0008"),
    Case("radiomics: spacing in metres", in_metres, R, 1, "voxels of 0.0008", needs="radiomics"),
    # label masks
    Case("radiomics: float mask 0 / 0.7", good_with_masks, R.replace("{mask}", "{float}"), 1,
         r"non-integer values \(0\.7\)", needs="radiomics"),
    Case("evaluate: float mask 0 / 0.7", good_with_masks, E + " --mask {float}", 1, r"non-integer values \(0\.7\)"),
    Case("evaluate: float mask of whole numbers", good_with_masks, E + " --mask {float_whole}", 0),
    Case("radiomics: mask half outside the image", good_with_masks, R.replace("{mask}", "{half_out}"), 1,
         r"50% of .*outside the image", needs="radiomics"),
    Case("evaluate: mask half outside the image", good_with_masks, E + " --mask {half_out}", 0,
         stdout=r"50% of label 1 of mask .* lies outside the image"),
    # special files, refused before they are opened
    Case("FIFO named .nrrd", one(fifo), D, 1, r"is a named pipe \(FIFO\), not a file", process="plain"),
    Case("link to a character device", one(device_link), D, 1, "is a character device, not a file"),
    Case("FIFO in a DICOM folder", one(fifo_in_series), D, 1, r"holds 'slice_z-206\.5.*not a file \(a FIFO",
         tiny_models=True),
    Case("FIFO named .nrrd in a batch folder", one(folder_with_a_fifo), "denoise {input} {out} --progress none", 1,
         r"1 of 2 input\(s\) failed", stdout=r"pipe\.nrrd.*is a named pipe \(FIFO\), not a file", outputs=("ct.nrrd",)),
    Case("folder named like a volume", one(folder_named_like_a_volume), D, 1, "is a folder, not a volume file"),
    # DICOM input
    Case("DICOM folder with a broken link", one(dangling_link), D, 1, r"broken link .*slice_z-206\.5",
         tiny_models=True),
    Case("DICOM gantry tilt to NRRD", one(tilted), D, 1, r"tilted by 20\.0 degrees", tiny_models=True),
    Case("DICOM gantry tilt to DICOM", one(tilted), DICOM_OUT, 1, r"tilted by 20\.0 degrees", tiny_models=True),
    Case("DICOM localizer of another size", one(lambda f: with_extra_image(f, 64, [1, 0, 0, 0, 1, 0], "loc.dcm")), D,
         1, r"'loc\.dcm' is 64x64 .*localizer", tiny_models=True),
    Case("DICOM localizer to DICOM output", one(lambda f: with_extra_image(f, 64, [1, 0, 0, 0, 1, 0], "loc.dcm")),
         DICOM_OUT, 1, r"'loc\.dcm' is 64x64 .*localizer", tiny_models=True),
    Case("DICOM sagittal image in the series", one(lambda f: with_extra_image(f, 512, [0, 1, 0, 0, 0, -1], "sag.dcm")),
         D, 1, r"'sag\.dcm' .*orientation .*localizer", tiny_models=True),
    Case("DICOM output onto a full disk", lidc_series, DICOM_OUT, 1, "File too large", process="small files",
         tiny_models=True),
    # options and messages
    Case("--halo 0 below the measured halo", one(lambda f: image(f, "ct.nrrd", ct_array())),
         "denoise {input} {out}/d.nrrd --model stresnet --progress json --halo 0", 0, outputs=("d.nrrd",),
         stdout=r"--halo 0 is below stresnet's measured halo of 10.* more than 46\.5 HU"),
    Case("--send-timeout inf", lidc_series, DICOM_OUT + " --send PACS@127.0.0.1:104 --send-timeout inf", 2,
         "--send-timeout: 'inf' is not a finite number", tiny_models=True),
    Case("send --send-timeout inf", lidc_series, "send {input} PACS@127.0.0.1:104 --send-timeout inf", 2,
         "--send-timeout: 'inf' is not a finite number"),
    Case("--send to a host that does not resolve", lidc_series, DICOM_OUT + " --send PACS@no-such-host.invalid:104",
         1, "cannot be resolved", tiny_models=True),
    Case("send to a host that does not resolve", lidc_series, "send {input} PACS@no-such-host.invalid:104", 1,
         "cannot be resolved"),
    Case("simulate --seed 10**20", one(lambda f: image(f, "ct.nrrd", ct_array())),
         "simulate {input} {out}/low.nrrd --dose 0.5 --seed 100000000000000000000", 2, "--seed: .* out of range"),
    Case("evaluate --output-dir is a file", good_with_file, E + " --output-dir {file}", 1, "is a file, not a folder"),
    Case("radiomics --output-dir is a file", good_with_masks,
         R.replace("{out}/r", "{file}").replace("{mask}", "{float_whole}"), 1, "is a file, not a folder",
         needs="radiomics"),
    Case("demo --output-dir is a file", good_with_file, "demo {input} --output-dir {file} --models stresnet", 1,
         "is a file, not a folder"),
]


def entries(folder: Path) -> set[str]:
    """Every file and folder below ``folder``, hidden ones too, as relative paths."""
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


CHILD = r"""
import resource, signal, sys
if sys.argv[1] == "small files":
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG, as with ENOSPC on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))
from CTDenoiseLib.cli import main
sys.exit(main(sys.argv[2:]))
"""


def run_case(case: Case, argv: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    if case.process:
        try:
            result = subprocess.run([sys.executable, "-c", CHILD, case.process, *argv], capture_output=True, text=True,
                                    timeout=120, env={**os.environ, **case.env})
        except subprocess.TimeoutExpired:
            pytest.fail("the command hung for 120 s")
        return result.returncode, result.stdout, result.stderr
    capfd.readouterr()
    status = run_in_process(argv)
    captured = capfd.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def tiny_model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return register_tiny_models(tmp_path_factory.mktemp("tiny-models"))


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_corpus_case(case: Case, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                     request: pytest.FixtureRequest) -> None:
    if case.needs:
        pytest.importorskip(case.needs)
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    names = case.build(inputs)
    environment = dict(case.env)
    if case.tiny_models:
        environment["CTDENOISE_MODEL_DIRS"] = str(request.getfixturevalue("tiny_model_folder"))
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    inputs_before, inputs_entries = snapshot(inputs), entries(inputs)
    argv = case.command.format(out=out, **{"in": inputs}, **names).split()
    status, stdout, stderr = run_case(Case(**{**case.__dict__, "env": environment}), argv, capfd)
    assert status == case.exit, stderr
    if case.exit:
        assert stderr.count("\n") == 1 and stderr.startswith("ctdenoise: error: "), stderr
        assert re.search(case.message, stderr), stderr
        assert "Traceback" not in stderr and "unexpected" not in stderr, stderr
    else:
        assert "ctdenoise: error" not in stderr, stderr
    if case.stdout:
        assert re.search(case.stdout, stdout), stdout
    assert snapshot(inputs) == inputs_before and entries(inputs) == inputs_entries  # inputs are only read
    assert entries(out) == set(case.outputs), entries(out)  # no partial file, nothing unexpected


# ---- cases that need a DICOM node ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def written_series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LIDC-IDRI-0003 written as a derived series (no model): what `ctdenoise send` sends."""
    from CTDenoiseLib.io.dicom_output import Derivation, plan_dicom_output, write_derived_series
    from CTDenoiseLib.io.volumes import read_volume

    if not LIDC3.exists():
        pytest.skip(f"real CT data not found at {LIDC3}")
    plan = plan_dicom_output(LIDC3, tmp_path_factory.mktemp("series") / "denoised")
    return write_derived_series(read_volume(LIDC3), plan, Derivation("stresnet", "fp32")).folder


@contextlib.contextmanager
def storage_node(handlers=(), contexts=None):
    """A pynetdicom storage node (AE title PACS) on a free local port; yields its AET@HOST:PORT."""
    from pynetdicom import AE, AllStoragePresentationContexts

    node = AE("PACS")
    node.supported_contexts = contexts if contexts is not None else AllStoragePresentationContexts
    server = node.start_server(("127.0.0.1", 0), block=False, evt_handlers=list(handlers))
    try:
        yield f"PACS@127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def send(folder: Path, node: str) -> tuple[int, str]:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(["send", str(folder), node, "--send-timeout", "5"])
    lines = [line for line in stderr.getvalue().splitlines() if line.startswith("ctdenoise: error: ")]
    assert len(lines) == 1, stderr.getvalue()
    return code, lines[0]


def test_a_node_that_does_not_store_ct_says_so(written_series: Path) -> None:
    from pynetdicom import build_context
    from pynetdicom.sop_class import MRImageStorage

    with storage_node(contexts=[build_context(MRImageStorage)]) as node:
        code, line = send(written_series, node)
    assert code == 1 and "does not accept CT Image Storage (1.2.840.10008.5.1.4.1.1.2)" in line, line
    assert "AE title" not in line and "rejected the association" not in line, line


def test_a_node_that_aborts_is_reported_as_aborting_at_once(written_series: Path) -> None:
    import time

    from pynetdicom import evt

    def abort(event) -> int:
        event.assoc.abort()
        return 0x0000

    started = time.monotonic()
    with storage_node(handlers=[(evt.EVT_C_STORE, abort)]) as node:
        code, line = send(written_series, node)
    assert code == 1 and "aborted the association" in line and "no answer within" not in line, line
    assert time.monotonic() - started < 4  # not the 5 s timeout


# ---- what must not be refused -------------------------------------------------------------------------------------
REAL_CT = ["lidc/LIDC-IDRI-0001/image.nrrd", "lidc/LIDC-IDRI-0002/image.nrrd", "lidc/LIDC-IDRI-0003/image.nrrd",
           "lidc/LIDC-IDRI-0003/dicom", "totalsegmentator/chest_crop_1p5mm.nii.gz",
           "totalsegmentator/abdomen_3mm.nii.gz", "totalsegmentator/dicom_jpeg2000",
           "tcia_pancreas/Pancreas-CT-CB_001_3mm.nii.gz"]


@pytest.mark.parametrize("relative", REAL_CT)
def test_real_ct_passes_the_plausibility_checks(relative: str) -> None:
    from CTDenoiseLib.io.plausibility import check_ct_volume
    from CTDenoiseLib.io.volumes import read_volume

    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real CT data not found at {path}")
    check_ct_volume(read_volume(path), relative)


def test_the_phantom_in_hu_and_a_very_noisy_simulated_scan_pass() -> None:
    from CTDenoiseLib.io.plausibility import check_ct_values, check_ct_volume
    from CTDenoiseLib.io.volumes import Volume, read_volume
    from CTDenoiseLib.simulation.lcd_phantom import read_stack
    from CTDenoiseLib.simulation.low_dose import DoseSimulation, simulate_volume

    phantom = SHARED_DATA / "lcd_ct_phantom/fbp/dose_010/signal_absent/signal_absent.mhd"
    lidc = SHARED_DATA / "lidc/LIDC-IDRI-0003/image.nrrd"
    if not (phantom.exists() and lidc.exists()):
        pytest.skip("real CT data not found in ../shared")
    stack = read_stack(phantom)  # HU (stored values - 1000)
    check_ct_volume(Volume(stack, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), AXIAL), "phantom")
    volume = read_volume(lidc)
    one_slice = Volume(volume.array[5:6].copy(), volume.spacing, volume.origin, volume.direction)
    noisy = simulate_volume(one_slice, DoseSimulation(dose=0.002, kernel="ram-lak", seed=1))
    check_ct_values(noisy.array, "0.2 % dose, sharp kernel")  # a third of the voxels below -1400 HU, down to -7000


def test_batch_into_an_input_folder_is_allowed_where_names_cannot_collide(tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    image(scans, "ct.nii.gz", ct_array())
    before = snapshot(scans)
    assert run_in_process(["denoise", str(scans), str(scans), "--progress", "none"]) == 0
    assert snapshot(scans)["ct.nii.gz"] == before["ct.nii.gz"] and set(snapshot(scans)) == {"ct.nii.gz", "ct.nrrd"}


def test_batch_names_keep_each_inputs_own_name_where_it_is_free() -> None:
    from CTDenoiseLib.io.batch import output_names

    names = output_names([Path("a/ct.nrrd"), Path("b/ct.nrrd"), Path("c/ct-2.nrrd"), Path("d/CT.nrrd")], Path("o"))
    assert [path.name for path in names] == ["ct.nrrd", "ct-3.nrrd", "ct-2.nrrd", "CT-4.nrrd"]


def test_a_dicom_folder_with_a_note_beside_the_slices_still_reads(tmp_path: Path) -> None:
    from CTDenoiseLib.io.volumes import read_volume

    series = lidc_copy(tmp_path)
    (series / "README.txt").write_text("exported from the PACS")
    assert read_volume(series).array.shape == (11, 512, 512)
