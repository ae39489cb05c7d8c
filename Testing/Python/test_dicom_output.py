"""`ctdenoise denoise DICOM_DIR OUT_DIR --output-format dicom`: a derived series that dciodvfy passes, that carries
the input's patient, study and per-slice geometry with new UIDs, and that SimpleITK and pydicom read back with the
denoised HU; refusals before any model loads; the input never touched and nothing left behind on failure.

Inputs are the real series in ../shared, read in place: LIDC-IDRI-0003 (uncompressed, signed 16-bit) and the
TotalSegmentator Siemens series (JPEG 2000, unsigned 12-bit, anonymised down to empty UIDs).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from CTDenoiseLib.cli import main
from CTDenoiseLib.errors import CTDenoiseError
from CTDenoiseLib.io.dicom_output import Derivation, match_slices, plan_dicom_output, write_derived_series
from CTDenoiseLib.io.volumes import Volume, read_volume

from dicom_helpers import JPEG2000_DICOM, LIDC_DICOM, dciodvfy_errors, real_series, register_changing_model, snapshot

SERIES = {"lidc": LIDC_DICOM, "jpeg2000": JPEG2000_DICOM}


def run_cli(*args: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(list(args))
        except SystemExit as stop:  # argparse: a usage error
            code = int(stop.code or 0)
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory):
    folder = register_changing_model(tmp_path_factory.mktemp("models"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CTDENOISE_MODEL_DIRS", str(folder))
        yield folder


@pytest.fixture(scope="module", params=sorted(SERIES))
def denoised_series(request, tiny_models, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One real series denoised by the command line (tiny untrained model, FP32) into a DICOM series and, for
    reference, into an NRRD file."""
    source = real_series(SERIES[request.param])
    before = snapshot(source)
    parent = tmp_path_factory.mktemp(f"dicom-{request.param}")
    output, reference = parent / "denoised", tmp_path_factory.mktemp("reference") / "denoised.nrrd"
    options = ("--model", "stresnet", "--precision", "fp32", "--device", "cpu", "--progress", "json")
    code, stdout, stderr = run_cli("denoise", str(source), str(output), "--output-format", "dicom", *options)
    assert run_cli("denoise", str(source), str(reference), *options)[0] == 0
    return {"name": request.param, "source": source, "output": output, "parent": parent, "code": code,
            "events": [json.loads(line) for line in stdout.splitlines()], "stderr": stderr,
            "unchanged": snapshot(source) == before, "reference": reference}


def headers(folder: Path, pixels: bool = False) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(path, stop_before_pixels=not pixels) for path in sorted(folder.iterdir())]


def by_position(datasets: list[pydicom.Dataset]) -> dict[tuple[float, ...], pydicom.Dataset]:
    return {tuple(round(float(value), 3) for value in ds.ImagePositionPatient): ds for ds in datasets}


def test_cli_writes_a_series_that_dciodvfy_passes_leaving_the_input_untouched(denoised_series: dict) -> None:
    assert denoised_series["code"] == 0, denoised_series["stderr"]
    assert denoised_series["unchanged"], "the input series was modified"
    output = denoised_series["output"]
    files = sorted(output.iterdir())
    assert len(files) == len(list(denoised_series["source"].iterdir()))
    assert [path.name for path in denoised_series["parent"].iterdir()] == ["denoised"]  # no partial folder left
    assert dciodvfy_errors(files) == {}
    assert denoised_series["events"][-1] == {"event": "done", "output": str(output),
                                             "seconds": denoised_series["events"][-1]["seconds"]}


def test_derived_series_has_new_uids_and_the_inputs_patient_study_and_slice_geometry(denoised_series: dict) -> None:
    assert denoised_series["code"] == 0, denoised_series["stderr"]
    sources = by_position(headers(denoised_series["source"]))
    outputs = by_position(headers(denoised_series["output"]))
    assert sources.keys() == outputs.keys()
    series_uids = {str(ds.SeriesInstanceUID) for ds in outputs.values()}
    assert len(series_uids) == 1 and series_uids.isdisjoint({str(ds.SeriesInstanceUID) for ds in sources.values()})
    instance_uids = [str(ds.SOPInstanceUID) for ds in outputs.values()]
    assert len(set(instance_uids)) == len(instance_uids) and all(instance_uids)
    assert set(instance_uids).isdisjoint(str(ds.SOPInstanceUID) for ds in sources.values())
    study_uids = {str(ds.StudyInstanceUID) for ds in outputs.values()}
    assert len(study_uids) == 1 and all(study_uids)
    for position, out in outputs.items():
        source = sources[position]
        assert list(out.ImageType[:2]) == ["DERIVED", "SECONDARY"]
        assert out.SeriesDescription.startswith("CTDenoise stresnet fp32 strength 1")
        assert "stresnet" in out.DerivationDescription
        assert out.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
        for keyword in ("PatientID", "PatientName", "PatientBirthDate", "StudyDate", "AccessionNumber",
                        "FrameOfReferenceUID", "ImageOrientationPatient", "PixelSpacing", "SliceThickness", "Rows",
                        "Columns", "BitsStored", "PixelRepresentation", "RescaleSlope", "RescaleIntercept",
                        "InstanceNumber", "Manufacturer", "KVP"):
            assert out.get(keyword) == source.get(keyword), keyword
        if source.StudyInstanceUID:
            assert out.StudyInstanceUID == source.StudyInstanceUID
        if source.SOPInstanceUID:
            assert out.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
        assert not any(element.tag.is_private for element in out)


def test_derived_series_reads_back_with_the_input_geometry_and_denoised_hu(denoised_series: dict) -> None:
    assert denoised_series["code"] == 0, denoised_series["stderr"]
    source, output = read_volume(denoised_series["source"]), read_volume(denoised_series["output"])
    assert output.array.shape == source.array.shape
    np.testing.assert_allclose(output.spacing, source.spacing, rtol=1e-6)
    np.testing.assert_allclose(output.origin, source.origin, atol=1e-4)
    np.testing.assert_allclose(output.direction, source.direction, atol=1e-6)
    difference = np.abs(output.array.astype(np.float64) - source.array)
    assert 1 < difference.mean() < 30  # denoised, not copied nor replaced
    # the same HU as the volume output, within what the input's stored representation holds
    stored = pydicom.dcmread(next(denoised_series["output"].iterdir()), stop_before_pixels=True)
    intercept, bits = float(stored.RescaleIntercept), int(stored.BitsStored)
    low = intercept - (1 << (bits - 1)) * int(stored.PixelRepresentation)
    expected = np.clip(read_volume(denoised_series["reference"]).array, low, low + (1 << bits) - 1)
    np.testing.assert_array_equal(output.array, expected)
    # pydicom's reading of the stored values and rescale gives the same HU as SimpleITK's, slice by slice
    z_of = {round(float(np.dot(np.reshape(source.direction, (3, 3))[:, 2], ds.ImagePositionPatient)), 3): ds
            for ds in headers(denoised_series["output"], pixels=True)}
    normal_origin = float(np.dot(np.reshape(source.direction, (3, 3))[:, 2], source.origin))
    for z, ds in z_of.items():
        index = int(round((z - normal_origin) / source.spacing[2]))
        hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(hu, output.array[index])


@pytest.fixture(scope="module")
def jpeg2000_volume() -> Volume:
    return read_volume(real_series(JPEG2000_DICOM))


def test_written_hu_are_exact_and_values_the_representation_cannot_hold_are_clipped_and_counted(
        jpeg2000_volume: Volume, tmp_path: Path) -> None:
    """The JPEG 2000 series stores unsigned 12 bits with intercept -1024: it holds -1024..3071 HU."""
    source = real_series(JPEG2000_DICOM)
    array = jpeg2000_volume.array.astype(np.int16) - 7
    array[3, 100, 100], array[5, 200, 200] = -1500, 5000
    plan = plan_dicom_output(source, tmp_path / "out")
    written = write_derived_series(jpeg2000_volume.with_array(array), plan, Derivation("m", "int8", 0.5))
    expected = np.clip(array, -1024, 3071)
    assert written.clipped_voxels == int(np.count_nonzero(expected != array)) >= 2
    assert any("clipped" in note for note in written.notes)
    np.testing.assert_array_equal(read_volume(written.folder).array, expected)
    first = pydicom.dcmread(written.files[0], stop_before_pixels=True)
    assert first.SeriesDescription == "CTDenoise m int8 strength 0.5 (CT Body 3.0)"
    assert (first.BitsStored, first.PixelRepresentation) == (12, 0)


def test_a_failed_write_leaves_no_output_and_no_partial_folder(jpeg2000_volume: Volume, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / "out"
    plan = plan_dicom_output(real_series(JPEG2000_DICOM), output)
    real_write, output_seen = pydicom.dcmwrite, []

    def disk_full_at_the_fifth_file(*args, **kwargs):
        output_seen.append(output.exists())
        if len(output_seen) == 5:
            raise OSError(28, "No space left on device")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmwrite", disk_full_at_the_fifth_file)
    with pytest.raises(CTDenoiseError, match="No space left on device"):
        write_derived_series(jpeg2000_volume, plan, Derivation("m", "fp32"))
    assert output_seen == [False] * 5  # nobody could see a partial series under the output name
    assert list(tmp_path.iterdir()) == []


def test_a_series_write_sweeps_partial_folders_of_killed_writers_only(jpeg2000_volume: Volume,
                                                                     tmp_path: Path) -> None:
    import os

    live = tmp_path / f".out.{os.getpid()}.abcd.partial"  # a concurrent run, still writing
    dead = tmp_path / f".out.{2 ** 22 + 1}.abcd.partial"  # a writer SIGKILLed mid-series
    for folder in (live, dead):
        folder.mkdir()
        (folder / "CT000001.dcm").write_bytes(b"x")
    plan = plan_dicom_output(real_series(JPEG2000_DICOM), tmp_path / "out")
    written = write_derived_series(jpeg2000_volume, plan, Derivation("m", "fp32"))
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(["out", live.name])
    assert len(written.files) == len(list((tmp_path / "out").iterdir()))


def test_a_volume_slice_without_an_image_at_its_position_is_refused(tmp_path: Path) -> None:
    source = real_series(LIDC_DICOM)
    volume = read_volume(source)
    plan = plan_dicom_output(source, tmp_path / "out")
    gap = tuple(item for index, item in enumerate(sorted(plan.slices, key=lambda s: s.position[2])) if index != 4)
    with pytest.raises(CTDenoiseError, match=r"Slice \d+ of 11 .* has no DICOM image"):
        match_slices(volume, gap)
    shifted = Volume(volume.array, volume.spacing, (volume.origin[0] + 1.0, *volume.origin[1:]), volume.direction)
    with pytest.raises(CTDenoiseError, match="has no DICOM image"):
        match_slices(shifted, plan.slices)


@pytest.mark.parametrize("case, arguments, message", [
    ("non-empty output", ["{lidc}", "{full}", "--output-format", "dicom"], "already holds files"),
    ("output inside input", ["{copy}", "{copy}/out", "--output-format", "dicom"], "inside the input series folder"),
    ("output is a file", ["{lidc}", "{file}", "--output-format", "dicom"], "is a file"),
    ("volume input", ["{nrrd}", "{new}", "--output-format", "dicom"], "is not a folder"),
    ("batch input", ["{lidc}", "{lidc}", "{new}", "--output-format", "dicom"], "takes one DICOM series folder"),
    ("send without dicom", ["{lidc}", "{tmp}/x.nrrd", "--send", "PACS@127.0.0.1:104"], "needs --output-format dicom"),
    ("malformed node", ["{lidc}", "{new}", "--output-format", "dicom", "--send", "PACS@127.0.0.1"],
     "is not AET@HOST:PORT"),
    ("calling AE title too long", ["{lidc}", "{new}", "--output-format", "dicom", "--send", "P@h:104",
                                   "--calling-aet", "SEVENTEEN_LETTERS"], "AE title"),
    ("timeout", ["{lidc}", "{new}", "--output-format", "dicom", "--send-timeout", "0"], "must be > 0"),
])
def test_bad_requests_are_refused_in_one_line_before_the_model_loads(case: str, arguments: list[str], message: str,
                                                                   tmp_path: Path, monkeypatch) -> None:
    lidc = real_series(LIDC_DICOM)
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in sorted(lidc.iterdir())[:3]:
        shutil.copy(path, copy / path.name)
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("an earlier series")
    (tmp_path / "file").write_text("")
    names = {"lidc": str(lidc), "copy": str(copy), "full": str(full), "file": str(tmp_path / "file"),
             "nrrd": str(real_series("lidc/LIDC-IDRI-0003/image.nrrd")), "new": str(tmp_path / "new"),
             "tmp": str(tmp_path)}
    monkeypatch.setattr("CTDenoiseLib.inference.pipeline.load_model",
                        lambda *a, **k: pytest.fail("the model was loaded"))
    before = snapshot(tmp_path)
    code, _, stderr = run_cli("denoise", *[argument.format(**names) for argument in arguments])
    assert code != 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ctdenoise: error: ") and message in lines[0], (case, stderr)
    assert snapshot(tmp_path) == before and not (tmp_path / "new").exists()


def test_a_model_that_changes_the_slice_count_is_refused_before_denoising(tmp_path: Path, monkeypatch) -> None:
    from CTDenoiseLib.hu import HUNormalization
    from CTDenoiseLib.models import ModelConfig, build_model
    from CTDenoiseLib.models.files import save_model
    from CTDenoiseLib.models.registry import register_model

    config = ModelConfig("stresnet", features=4, blocks=1, z_upscale=2)
    card = {"hu_normalization": HUNormalization().to_dict(), "inference": {"halo": 4}}
    weights, card_path = save_model(build_model(config), config, card, tmp_path / "models", "thin")
    register_model(tmp_path / "models", "thin", weights, card_path)
    monkeypatch.setenv("CTDENOISE_MODEL_DIRS", str(tmp_path / "models"))
    monkeypatch.setattr("CTDenoiseLib.inference.pipeline.denoise_hu", lambda *a, **k: pytest.fail("denoising started"))
    code, _, stderr = run_cli("denoise", str(real_series(LIDC_DICOM)), str(tmp_path / "out"), "--output-format",
                              "dicom", "--model", "thin", "--precision", "fp32", "--device", "cpu")
    assert code == 1 and "makes 2 slices per input slice" in stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists()
