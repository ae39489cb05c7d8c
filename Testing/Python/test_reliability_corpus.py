"""The bad and unusual inputs a new user tried (issue 16), held as data: each case builds its inputs in a temporary
folder, runs one command line, and checks the exit status, the one stderr line (``ctdenoise: error: ...``, matched
against a fragment), that every input file is byte for byte unchanged, and that nothing is left behind but the
expected outputs. Commands run in this process (``cli.main``; fd-level capture, so ITK's native warnings count),
except the three that need a real process: SIGTERM during the write, a closed stdout pipe, and a full disk.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import SimpleITK as sitk

from CTDenoiseLib.cli import main

from conftest import SHARED_DATA

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
OBLIQUE = (1.0, 0.0, 0.0, 0.0, 0.9659258, -0.2588190, 0.0, 0.2588190, 0.9659258)  # 15 degrees about x
LIDC3, LIDC1 = SHARED_DATA / "lidc/LIDC-IDRI-0003/dicom", SHARED_DATA / "lidc/LIDC-IDRI-0001/dicom"


# ---- input builders: each writes into `folder` and returns the file or folder it made ----------------------------
def ct_array(shape=(8, 48, 48), seed: int = 0) -> np.ndarray:
    """Body (40 HU) in air with a lung (-850 HU) and 40 HU noise: passes every CT check."""
    _, y, x = np.mgrid[0:shape[0], 0:shape[1], 0:shape[2]]
    hu = np.full(shape, -1000.0, np.float32)
    centre, radius = shape[1] / 2, shape[1] * 0.42
    hu[(y - centre) ** 2 + (x - centre) ** 2 < radius ** 2] = 40
    hu[(y - centre) ** 2 + (x - centre * 0.7) ** 2 < (radius / 3) ** 2] = -850
    return (hu + np.random.default_rng(seed).normal(0, 40, shape)).astype(np.int16)


def image(folder: Path, name: str, array: np.ndarray, direction=AXIAL, spacing=(0.8, 0.8, 2.0), origin=(0.0, 0.0, 0.0),
          vector: bool = False) -> Path:
    itk = sitk.GetImageFromArray(array, isVector=vector)
    if itk.GetDimension() == 3 and not vector:
        itk.SetDirection(direction)
        itk.SetSpacing(spacing)
        itk.SetOrigin(origin)
    sitk.WriteImage(itk, str(folder / name), useCompression=name.endswith((".nrrd", ".mha")))
    return folder / name


def truncated(folder: Path, name: str, keep: float = 0.5) -> Path:
    whole = image(folder, f"whole_{name}", ct_array((12, 64, 64)))
    cut = folder / name
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * keep)])
    whole.unlink()
    return cut


def crc_damaged(folder: Path) -> Path:
    path = image(folder, "crc.nii.gz", ct_array())
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def with_nan(folder: Path) -> Path:
    array = ct_array().astype(np.float32)
    array[3, 10, 10] = np.nan
    return image(folder, "nan.nrrd", array)


def pet_like(folder: Path) -> Path:  # SUV 0..8
    return image(folder, "pet.nrrd", np.random.default_rng(2).gamma(1.0, 1.0, (8, 48, 48)).astype(np.float32))


def metal(folder: Path) -> Path:
    array = ct_array((8, 64, 64)).astype(np.int32)
    array[:, 28:34, 20:26] = 30000
    return image(folder, "metal.nrrd", array)


def dicom_copy(folder: Path, *sources: Path) -> Path:
    target = folder / "series"
    target.mkdir()
    for source in sources:
        if not source.exists():
            pytest.skip(f"real CT data not found at {source} (../shared is absent, e.g. in a fresh clone)")
        for path in sorted(source.iterdir()):
            shutil.copyfile(path, target / path.name)
    return target


def dicom_missing_slice(folder: Path) -> Path:
    series = dicom_copy(folder, LIDC3)
    (series / "slice_z-184.000000.dcm").unlink()
    return series


def dicom_unreadable_slice(folder: Path) -> Path:
    series = dicom_copy(folder, LIDC3)
    damaged = series / "slice_z-184.000000.dcm"
    damaged.write_bytes(damaged.read_bytes()[:2000])
    return series


def stale_partial(folder: Path) -> Path:
    """A good input, and in the output folder the partial file of a writer killed earlier (pid 2**22+1: none)."""
    out = folder.parent / "out"
    (out / f".denoised.nrrd.{2 ** 22 + 1}.abcd1234.partial.nrrd").write_bytes(b"x" * 1000)
    return image(folder, "ct.nrrd", ct_array())


GOOD = lambda folder: image(folder, "ct.nrrd", ct_array())  # noqa: E731
BUILDERS: dict[str, Callable[[Path], Path]] = {
    "good": GOOD,
    "good_nii": lambda folder: image(folder, "ct.nii.gz", ct_array()),
    "missing": lambda folder: folder / "absent.nrrd",
    "2d": lambda folder: image(folder, "slice.nrrd", ct_array()[0]),
    "rgb": lambda folder: image(folder, "rgb.nrrd", np.zeros((6, 24, 24, 3), np.uint8), vector=True),
    "two_slices": lambda folder: image(folder, "thin.nrrd", ct_array((2, 48, 48))),
    "tiny_crop": lambda folder: image(folder, "crop.nrrd", ct_array((3, 5, 5))),
    "nan": with_nan,
    "mr_like": lambda folder: image(folder, "mr.nrrd",
                                    np.random.default_rng(1).uniform(0, 1, (6, 24, 24)).astype(np.float32)),
    "raw_values": lambda folder: image(folder, "raw.nrrd", (ct_array() + 1024).clip(0).astype(np.uint16)),
    "pet": pet_like,
    "label_map": lambda folder: image(folder, "labels.nrrd", (ct_array() > 0).astype(np.uint8)),
    "truncated_nii_gz": lambda folder: truncated(folder, "cut.nii.gz"),
    "truncated_nii": lambda folder: truncated(folder, "cut.nii"),
    "truncated_nrrd": lambda folder: truncated(folder, "cut.nrrd"),
    "truncated_mha": lambda folder: truncated(folder, "cut.mha"),
    "crc_damaged": crc_damaged,
    "text_as_nrrd": lambda folder: (folder / "notes.nrrd").write_text("not an image\n") and folder / "notes.nrrd",
    "empty_file": lambda folder: (folder / "empty.nii.gz").write_bytes(b"") or folder / "empty.nii.gz",
    "empty_folder": lambda folder: (folder / "series").mkdir() or folder / "series",
    "metal": metal,
    "dicom": lambda folder: dicom_copy(folder, LIDC3),
    "dicom_missing_slice": dicom_missing_slice,
    "dicom_unreadable_slice": dicom_unreadable_slice,
    "dicom_two_series": lambda folder: dicom_copy(folder, LIDC1, LIDC3),
    "stale_partial": stale_partial,
}


@dataclass(frozen=True)
class Case:
    """One line of the corpus. ``command`` may name {input}, {out} (the output folder) and {other} (the second
    input, made by ``other``); ``outputs``: the files expected in {out} afterwards."""

    name: str
    input: str
    command: str
    exit: int
    message: str = ""  # a fragment of the stderr line; empty for success (then stderr must be empty)
    other: str = ""
    outputs: tuple[str, ...] = ()


D = "denoise {input} {out}/denoised.nrrd --progress none"
E = "evaluate --no-lpips --reference {other} --image {input}"
CORPUS = [
    # denoise: inputs
    Case("missing input", "missing", D, 1, "Input not found"),
    Case("2D image", "2d", D, 1, "2D image"),
    Case("colour image", "rgb", D, 1, "3 components per voxel"),
    Case("two slices", "two_slices", D, 1, "only 2 slice"),
    Case("3x5x5 crop", "tiny_crop", D, 1, "only 5 x 5 voxels per slice"),
    Case("NaN voxel", "nan", D, 1, "1 NaN or infinite"),
    Case("MR-like values 0..1", "mr_like", D, 1, "does not look like CT"),
    Case("raw stored values", "raw_values", D, 1, "rescale slope/intercept"),
    Case("PET in SUV", "pet", D, 1, "a PET, MR or constant image"),
    Case("label map", "label_map", D, 1, "does not look like CT"),
    Case("truncated .nii.gz", "truncated_nii_gz", D, 1, "is incomplete"),
    Case("truncated .nii", "truncated_nii", D, 1, "is incomplete: its header describes"),
    Case("gzip CRC damaged", "crc_damaged", D, 1, "is incomplete"),
    Case("truncated .nrrd", "truncated_nrrd", D, 1, "Cannot read"),
    Case("truncated .mha (MetaIO prints to fd 2)", "truncated_mha", D, 1, "Cannot read"),
    Case("text file named .nrrd", "text_as_nrrd", D, 1, "Cannot read"),
    Case("empty file", "empty_file", D, 1, "is incomplete|Cannot read"),
    Case("empty folder", "empty_folder", D, 1, "No CT volumes found|No DICOM series"),
    Case("DICOM slice missing", "dicom_missing_slice", D, 1, r"5\.000 mm apart where the others are 2\.500 mm"),
    Case("DICOM slice unreadable", "dicom_unreadable_slice", D, 1, "missing or unreadable"),
    Case("DICOM two series", "dicom_two_series", D, 1, r"holds 2 DICOM series: \[1\] .* \(16 slices\).*--series"),
    Case("DICOM unknown --series", "dicom_two_series", D + " --series 1.2.3", 1, "is not in folder"),
    Case("DICOM chosen series", "dicom_two_series",
         D + " --series 1.3.6.1.4.1.14519.5.2.1.6279.6001.170706757615202213033480003264",
         0, outputs=("denoised.nrrd",)),
    # denoise: outputs and options
    Case("output type .png", "good", "denoise {input} {out}/denoised.png", 1, "Unsupported output type"),
    Case("output folder missing", "good", "denoise {input} {out}/absent/denoised.nrrd", 1, "does not exist"),
    Case("output is a folder", "good", "denoise {input} {out}", 1, r"is a folder|must be a folder|\.nrrd"),
    Case("output is the input", "good", "denoise {input} {input}", 1, "is the input"),
    Case("--max-tile-mvox 0", "good", D + " --max-tile-mvox 0", 2, "out of range: it must be >= 0.05"),
    Case("--max-tile-mvox -1", "good", D + " --max-tile-mvox -1", 2, "out of range"),
    Case("--halo -3", "good", D + " --halo -3", 2, "--halo: -3 is out of range"),
    Case("--halo 500", "good", D + " --halo 500", 2, "--halo: 500 is out of range"),
    Case("--halo not a number", "good", D + " --halo x", 2, "is not an integer"),
    Case("FP16 on the CPU", "good", D + " --precision fp16 --device cpu", 1, "FP16 runs only on a CUDA GPU"),
    Case("INT8 on CUDA", "good", D + " --precision int8 --device cuda", 1, "INT8 runs only on the CPU"),
    Case("unknown model", "good", D + " --model nosuch", 1, "Unknown model 'nosuch'"),
    Case("unknown option", "good", D + " --fast", 2, "unrecognized arguments: --fast"),
    Case("good NRRD, default precision", "good", D, 0, outputs=("denoised.nrrd",)),
    Case("good NIfTI to NIfTI", "good_nii", "denoise {input} {out}/denoised.nii.gz --progress none", 0,
         outputs=("denoised.nii.gz",)),
    Case("metal insert", "metal", D, 0, outputs=("denoised.nrrd",)),
    Case("good DICOM series", "dicom", D, 0, outputs=("denoised.nrrd",)),
    Case("stale partial of a killed run is swept", "stale_partial", D, 0, outputs=("denoised.nrrd",)),
    # simulate and demo options
    Case("simulate --slice-thickness 0", "good", "simulate {input} {out}/low.nrrd --dose 0.1 --slice-thickness 0", 2,
         "--slice-thickness: 0 is out of range"),
    Case("simulate --dose 0", "good", "simulate {input} {out}/low.nrrd --dose 0", 2, "--dose: 0 is out of range"),
    Case("simulate --dose 1.5", "good", "simulate {input} {out}/low.nrrd --dose 1.5", 2, "must be > 0 and <= 1"),
    Case("simulate NaN", "nan", "simulate {input} {out}/low.nrrd --dose 0.1 --progress none", 1, "NaN"),
    Case("demo --dose -1", "good", "demo {input} --dose -1", 2, "--dose: -1 is out of range"),
    Case("demo missing input", "missing", "demo {input} --output-dir {out}/demo", 1, "Input not found"),
    # evaluate: the same input checks as denoise, and geometry, not only shape
    Case("evaluate NaN image", "nan", E, 1, "image .* contains 1 NaN", other="good"),
    Case("evaluate label map", "label_map", E, 1, "does not look like CT", other="good"),
    Case("evaluate NaN reference", "good", E, 1, "reference .* contains 1 NaN", other="nan"),
    Case("evaluate oblique against axial", "oblique", E, 1, "direction .* differs .*oblique", other="good"),
    Case("evaluate shifted origin", "shifted", E, 1, "origin is", other="good"),
    Case("evaluate other spacing", "respaced", E, 1, "spacing", other="good"),
    Case("evaluate other shape", "tiny_crop", E, 1, "voxels per slice|shape", other="good"),
    Case("evaluate truncated image", "truncated_nii_gz", E, 1, "is incomplete", other="good"),
    Case("evaluate good", "noisier", E, 0, other="good"),
    # the command line itself
    Case("unknown command", "good", "enhance {input}", 2, "invalid choice: 'enhance'"),
]
BUILDERS.update({
    "oblique": lambda folder: image(folder, "oblique.nrrd", ct_array(), direction=OBLIQUE),
    "shifted": lambda folder: image(folder, "shifted.nrrd", ct_array(), origin=(0.0, 0.0, 5.0)),
    "respaced": lambda folder: image(folder, "respaced.nrrd", ct_array(), spacing=(0.7, 0.7, 2.0)),
    "noisier": lambda folder: image(folder, "noisier.nrrd", ct_array(seed=3)),
})


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (hidden ones too) with its SHA-256."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def run_in_process(argv: list[str]) -> int:
    handler = signal.getsignal(signal.SIGTERM)
    try:
        return main(argv)
    except SystemExit as stop:  # argparse
        return int(stop.code or 0)
    finally:
        signal.signal(signal.SIGTERM, handler)  # main() installs its own; give pytest's back


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_corpus_case(case: Case, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    source = BUILDERS[case.input](inputs)
    other = BUILDERS[case.other](inputs) if case.other else None
    inputs_before, out_before = snapshot(inputs), set(snapshot(out))
    capfd.readouterr()
    argv = case.command.format(input=source, out=out, other=other).split()
    status = run_in_process(argv)
    captured = capfd.readouterr()
    assert status == case.exit, captured.err
    if case.exit:
        assert captured.err.count("\n") == 1 and captured.err.startswith("ctdenoise: error: "), captured.err
        assert re.search(case.message, captured.err), captured.err
    else:
        assert captured.err == "", captured.err  # no ITK warning on success either
    assert snapshot(inputs) == inputs_before  # inputs are only read
    left = set(snapshot(out))
    if case.input == "stale_partial":
        out_before = set()
    assert left == out_before | set(case.outputs), left  # no partial file, nothing unexpected


# ---- the cases that need a real process ---------------------------------------------------------------------------
SIGTERM_DURING_WRITE = r"""
import os, signal, sys
import SimpleITK as sitk
write = sitk.WriteImage
def write_then_get_terminated(*args, **kwargs):
    write(*args, **kwargs)  # the temporary file is complete on disk, not yet renamed
    os.kill(os.getpid(), signal.SIGTERM)
sitk.WriteImage = write_then_get_terminated
from CTDenoiseLib.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_during_the_write_leaves_no_partial_file(tmp_path: Path) -> None:
    source = GOOD(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run([sys.executable, "-c", SIGTERM_DURING_WRITE, "denoise", str(source), str(out / "d.nrrd"),
                             "--progress", "none"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 143, result.stderr
    assert result.stderr == "ctdenoise: error: terminated (SIGTERM); the output being written was removed.\n"
    assert list(out.iterdir()) == []


def test_a_closed_stdout_pipe_ends_quietly(tmp_path: Path) -> None:
    source = GOOD(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    process = subprocess.Popen([sys.executable, "-m", "CTDenoiseLib", "denoise", str(source), str(out / "d.nrrd"),
                                "--progress", "json", "--max-tile-mvox", "0.05", "--precision", "fp32",
                                "--backend", "torch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline().startswith(b"{")  # `| head -1`
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=300) == 141, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert not [path for path in out.iterdir() if "partial" in path.name]


def test_only_partials_of_writers_that_are_gone_are_swept(tmp_path: Path) -> None:
    import os

    from CTDenoiseLib.io.volumes import Volume, write_volume

    live = tmp_path / f".d.nrrd.{os.getpid()}.abcd.partial.nrrd"  # a concurrent run, still writing
    dead = tmp_path / f".d.nrrd.{2 ** 22 + 1}.abcd.partial.nrrd"
    old_style = tmp_path / ".d.nrrd.k3j2h1g0.partial.nrrd"  # named before temporary files carried a process id
    for path in (live, dead, old_style):
        path.write_bytes(b"x")
    write_volume(Volume(ct_array(), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), AXIAL), tmp_path / "d.nrrd")
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(["d.nrrd", live.name])


def test_debug_shows_what_itk_printed(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from CTDenoiseLib.io.native_stderr import set_echo

    source = truncated(tmp_path, "cut.mha")
    try:
        status = run_in_process(["--debug", "denoise", str(source), str(tmp_path / "d.nrrd"), "--progress", "none"])
    finally:
        set_echo(False)
    err = capfd.readouterr().err
    assert status == 1 and "MetaImage" in err and err.rstrip().splitlines()[-1].startswith("ctdenoise: error: ")
