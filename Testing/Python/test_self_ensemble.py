"""Self-ensemble: every flip is undone before averaging, for plain and z-upscaling runners, and the command
line's --self-ensemble runs it end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from CTDenoiseLib.inference.self_ensemble import FLIPS, self_ensemble
from CTDenoiseLib.io.volumes import read_volume


def test_the_eight_flips_are_distinct_and_cover_every_axis_combination() -> None:
    assert len(set(FLIPS)) == 8 and {axis for flip in FLIPS for axis in flip} == {0, 1, 2}


def test_each_flip_is_undone_so_a_position_dependent_runner_averages_over_mirror_positions() -> None:
    tile = np.random.default_rng(0).normal(size=(4, 5, 6)).astype(np.float32)
    ramp = np.arange(6, dtype=np.float32)  # adds x to every voxel: not flip-equivariant
    ensemble = self_ensemble(lambda t: t + ramp)
    # Undone flips keep the tile where it was; the ramp is seen as x half the time and as 5 - x otherwise.
    np.testing.assert_allclose(ensemble(tile), tile + 2.5, atol=1e-6)


def test_an_equivariant_z_upscaling_runner_is_unchanged_by_the_ensemble() -> None:
    tile = np.random.default_rng(1).normal(size=(3, 4, 5)).astype(np.float32)
    upscale = lambda t: np.repeat(t, 2, axis=0) * 0.5  # noqa: E731
    np.testing.assert_allclose(self_ensemble(upscale)(tile), upscale(tile), atol=1e-6)


def test_denoise_with_self_ensemble_differs_from_one_pass_and_keeps_the_volume(lidc_crop: Path, tmp_path: Path) -> None:
    outputs = {}
    for name, extra in (("plain", []), ("ensemble", ["--self-ensemble"])):
        outputs[name] = tmp_path / f"{name}.nrrd"
        result = subprocess.run([sys.executable, "-m", "CTDenoiseLib", "denoise", str(lidc_crop), str(outputs[name]),
                                 "--model", "srresnet", "--progress", "json", *extra],
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout.splitlines()[-1])["event"] == "done"
    plain, ensemble = (read_volume(outputs[name]).array.astype(np.float32) for name in ("plain", "ensemble"))
    difference = np.abs(ensemble - plain)
    assert ensemble.shape == plain.shape
    assert 0 < difference.mean() < 5  # a different, nearby estimate: not the same pass, not another image
