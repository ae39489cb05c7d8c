"""The process runner driving the real engine (``python -m CTDenoiseLib``) exactly as the module does, on a few
slices of a real chest CT from ../shared/data."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "CTDenoise"))

from CTDenoiseSlicerLib.engine_command import DenoiseOptions, denoise_command, engine_dir, models_command  # noqa: E402
from CTDenoiseSlicerLib.model_catalog import parse_models_json  # noqa: E402
from CTDenoiseSlicerLib.process_runner import ProcessRunner, RunState  # noqa: E402

CHEST = REPO.parent / "shared" / "data" / "totalsegmentator" / "chest_crop_1p5mm.nii.gz"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A temporary folder holding 8 slices (64x64 in-plane) of the real chest CT as NRRD, like the module writes."""
    if not CHEST.is_file():
        pytest.skip(f"real CT data not found at {CHEST} (../shared is absent in a fresh clone)")
    sitk = pytest.importorskip("SimpleITK")
    image = sitk.ReadImage(str(CHEST))
    size = image.GetSize()
    crop = sitk.RegionOfInterest(image, [64, 64, 8], [(size[0] - 64) // 2, (size[1] - 64) // 2, size[2] // 2])
    folder = tmp_path / "CTDenoise-work"
    folder.mkdir()
    sitk.WriteImage(crop, str(folder / "input.nrrd"))
    return folder


def _runner(work: Path, options: DenoiseOptions, **kwargs) -> ProcessRunner:
    args = denoise_command(sys.executable, str(work / "input.nrrd"), str(work / "denoised.nrrd"), options)
    return ProcessRunner(args, cwd=engine_dir(), temp_dir=str(work), **kwargs)


def test_engine_failure_shows_the_engines_own_line(work: Path) -> None:
    result = _runner(work, DenoiseOptions(model="no-such-model")).start().wait(timeout=120)
    assert result.state is RunState.FAILED and result.return_code == 1
    assert "no-such-model" in result.error and not result.error.startswith("Traceback")
    assert '"event": "error"' in result.log or '"event":"error"' in result.log
    assert not work.exists()  # failed run: temporary folder removed


@pytest.mark.skipif(os.name == "nt", reason="checks process liveness through /proc")
def test_cancel_stops_the_real_engine_and_removes_the_folder(work: Path) -> None:
    runner = _runner(work, DenoiseOptions(model="srresnet")).start()
    time.sleep(0.3)  # the engine is importing torch by now
    pid = runner.pid
    assert runner.is_alive(), "the engine ended before it could be cancelled"
    runner.cancel()
    result = runner.wait(timeout=30)
    assert result.state is RunState.CANCELLED
    assert not work.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_denoise_progress_arrives_in_order_and_the_output_keeps_the_geometry(work: Path) -> None:
    listing = subprocess.run(models_command(sys.executable), cwd=engine_dir(), capture_output=True, text=True,
                             timeout=120)
    if listing.returncode != 0 or "stresnet" not in {m.name for m in parse_models_json(listing.stdout)}:
        pytest.skip("the engine has no 'stresnet' model registered yet ('models --json' lists none)")
    sitk = pytest.importorskip("SimpleITK")
    snapshots, events = [], []
    runner = _runner(work, DenoiseOptions(model="stresnet", precision="fp32", device="cpu"), keep_temp=True,
                     on_progress=snapshots.append, on_event=events.append)
    result = runner.start().wait(timeout=300)
    assert result.state is RunState.SUCCEEDED, result.error
    assert snapshots and [s.percent for s in snapshots] == sorted(s.percent for s in snapshots)
    assert snapshots[-1].percent == 100
    assert events[-1].kind == "done" and Path(result.output).name == "denoised.nrrd"
    before, after = sitk.ReadImage(str(work / "input.nrrd")), sitk.ReadImage(str(work / "denoised.nrrd"))
    assert after.GetSize() == before.GetSize() and after.GetSpacing() == pytest.approx(before.GetSpacing())
    assert after.GetOrigin() == pytest.approx(before.GetOrigin())
