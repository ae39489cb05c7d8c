"""The four paths that used to give a wrong volume with exit status 0 (issue 16): a short write on a full disk, a
truncated NIfTI input, a DICOM series with a missing or unreadable slice, and a folder holding two series."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from CTDenoiseLib.errors import CTDenoiseError
from CTDenoiseLib.io.volumes import Volume, read_volume, write_volume

from conftest import shared_path

ENGINE = [sys.executable, "-m", "CTDenoiseLib"]
LIDC3_DICOM, LIDC1_DICOM = "lidc/LIDC-IDRI-0003/dicom", "lidc/LIDC-IDRI-0001/dicom"

# Runs write_volume with the file size limited to 40 kB (SIGXFSZ ignored, so write() fails with EFBIG as it does
# with ENOSPC on a full disk). SimpleITK's NIfTI writer reports nothing in that case.
FULL_DISK = r"""
import resource, signal, sys
import numpy as np
from CTDenoiseLib.errors import CTDenoiseError
from CTDenoiseLib.io.volumes import Volume, write_volume
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))
array = (np.random.default_rng(1).normal(0, 300, (20, 64, 64)) - 400).astype(np.int16)
try:
    write_volume(Volume(array, (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1)), sys.argv[1])
except CTDenoiseError as error:
    print(error)
    sys.exit(1)
"""


def small_volume(slices: int = 20) -> Volume:
    array = (np.random.default_rng(0).normal(0, 300, (slices, 64, 64)) - 400).astype(np.int16)
    return Volume(array, (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))


@pytest.mark.parametrize("extension", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_a_short_write_on_a_full_disk_fails_and_keeps_the_previous_output(extension: str, tmp_path: Path) -> None:
    output = tmp_path / f"denoised{extension}"
    write_volume(small_volume(slices=4), output)  # a good earlier result of the same name (small enough to fit)
    before = output.read_bytes()
    result = subprocess.run([sys.executable, "-c", FULL_DISK, str(output)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Writing" in result.stdout or "Cannot write" in result.stdout
    assert output.read_bytes() == before
    assert [path.name for path in tmp_path.iterdir()] == [output.name]  # no partial file left


@pytest.mark.parametrize("extension", [".nii.gz", ".nii"])
def test_a_truncated_nifti_input_is_refused_not_zero_filled(extension: str, tmp_path: Path) -> None:
    whole = tmp_path / f"whole{extension}"
    write_volume(small_volume(), whole)
    cut = tmp_path / f"cut{extension}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    assert read_volume(whole).array.shape == (20, 64, 64)
    with pytest.raises(CTDenoiseError, match="incomplete"):
        read_volume(cut)


def test_a_nifti_gzip_with_a_damaged_crc_is_refused(tmp_path: Path) -> None:
    whole = tmp_path / "whole.nii.gz"
    write_volume(small_volume(), whole)
    data = bytearray(whole.read_bytes())
    data[-8] ^= 0xFF  # the gzip trailer's CRC-32
    damaged = tmp_path / "damaged.nii.gz"
    damaged.write_bytes(bytes(data))
    with pytest.raises(CTDenoiseError, match="incomplete"):
        read_volume(damaged)


def copy_series(source: str, target: Path) -> Path:
    target.mkdir(exist_ok=True)
    for path in sorted(shared_path(source).iterdir()):
        shutil.copyfile(path, target / path.name)
    return target


def test_a_dicom_series_missing_a_slice_is_refused_with_where_the_gap_is(tmp_path: Path) -> None:
    folder = copy_series(LIDC3_DICOM, tmp_path / "series")
    (folder / "slice_z-184.000000.dcm").unlink()  # the 11 slices are 2.5 mm apart; now one step is 5 mm
    with pytest.raises(CTDenoiseError, match=r"5\.000 mm apart where the others are 2\.500 mm.*missing"):
        read_volume(folder)


def test_a_dicom_series_with_an_unreadable_slice_is_refused(tmp_path: Path) -> None:
    folder = copy_series(LIDC3_DICOM, tmp_path / "series")
    damaged = folder / "slice_z-184.000000.dcm"
    damaged.write_bytes(damaged.read_bytes()[:2000])  # GDCM drops the slice from the series
    with pytest.raises(CTDenoiseError, match="missing or unreadable"):
        read_volume(folder)


def test_an_evenly_spaced_dicom_series_reads_at_its_true_spacing() -> None:
    volume = read_volume(shared_path(LIDC3_DICOM))
    assert volume.array.shape[0] == 11 and volume.spacing[2] == pytest.approx(2.5, abs=1e-3)


def test_a_folder_with_two_series_is_refused_with_the_list_and_one_can_be_chosen(tmp_path: Path) -> None:
    folder = copy_series(LIDC1_DICOM, tmp_path / "two")
    copy_series(LIDC3_DICOM, folder)
    uid3 = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(shared_path(LIDC3_DICOM)))[0]
    with pytest.raises(CTDenoiseError,
                       match=r"holds 2 DICOM series: \[1\] .*\(1[16] slices\); \[2\] .*--series") as error:
        read_volume(folder)
    assert uid3 in str(error.value)
    assert read_volume(folder, uid3).array.shape[0] == 11
    assert read_volume(folder, "1").array.shape[0] in (11, 16)
    with pytest.raises(CTDenoiseError, match="not in folder"):
        read_volume(folder, "1.2.3")


def test_denoise_refuses_two_series_and_a_truncated_input_in_one_line_before_loading_the_model(tmp_path: Path) -> None:
    folder = copy_series(LIDC1_DICOM, tmp_path / "two")
    copy_series(LIDC3_DICOM, folder)
    whole = tmp_path / "whole.nii.gz"
    write_volume(small_volume(), whole)
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(whole.read_bytes()[:3000])
    for source, words, before_model in ((folder, "holds 2 DICOM series", True),
                                        (tmp_path / "absent.nrrd", "not found", True),
                                        (cut, "incomplete", False)):
        output = tmp_path / "out.nrrd"
        result = subprocess.run([*ENGINE, "denoise", str(source), str(output), "--progress", "json"],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 1 and words in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("ctdenoise: error: ")
        model_loaded = any('"running ' in line for line in result.stdout.splitlines())
        assert not model_loaded or not before_model, result.stdout
        assert not output.exists()
