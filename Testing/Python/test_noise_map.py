"""A noise map, not one number: a noise-conditioned network told each slice's noise level (inference and
training), the map's range in the JSON noise event and the output header, and real phantom noise as a training
case whose realisations never judge a network."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2] / "CTDenoiseTraining")]

from test_noise_channel import conditioned_model, noisy_volume  # noqa: E402

from CTDenoiseLib.hu import HUNormalization  # noqa: E402
from CTDenoiseLib.inference.tiled import denoise_hu  # noqa: E402
from CTDenoiseLib.models import receptive_field_radius  # noqa: E402
from CTDenoiseLib.models.noise_channel import UNIT_HU, channel_value  # noqa: E402
from CTDenoiseLib.simulation.low_dose import DoseSimulation  # noqa: E402

from training_data_helpers import write_crops  # noqa: E402

NORMALIZATION = HUNormalization()


class RecordingRunner:
    """A noise-conditioned runner that records the noise channel of every tile and returns the image channel."""

    input_channels = 2

    def __init__(self) -> None:
        self.levels: list[np.ndarray] = []

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        assert tile.shape[0] == 2
        channel = tile[1]
        assert np.all(channel == channel[:, :1, :1])  # constant within each slice
        self.levels.append(channel[:, 0, 0].copy())
        return tile[0]


def test_each_slice_gets_its_own_level_through_the_tiles() -> None:
    hu = np.zeros((9, 40, 40), np.float32)
    levels = np.linspace(20.0, 100.0, 9)
    runner = RecordingRunner()
    denoise_hu(hu, runner, NORMALIZATION, (2, 4, 4), max_tile_voxels=6_000, noise_std_hu=levels)
    assert len(runner.levels) > 2  # tiled along z and in-plane
    seen = np.concatenate(runner.levels) * UNIT_HU
    assert set(np.round(seen, 3)) == set(np.round(levels.astype(np.float32), 3))  # halos repeat the end slices
    constant = RecordingRunner()
    denoise_hu(hu, constant, NORMALIZATION, 2, noise_std_hu=55.0)
    assert np.allclose(np.concatenate(constant.levels), channel_value(55.0))
    with pytest.raises(ValueError, match="3 noise levels for a volume of 9 slices"):
        denoise_hu(hu, RecordingRunner(), NORMALIZATION, 2, noise_std_hu=np.ones(3))


def test_a_map_tells_each_slice_what_one_number_tells_a_uniform_volume() -> None:
    from CTDenoiseLib.runtime.backends import TorchRunner

    model = conditioned_model()
    run = TorchRunner(model, "cpu")
    hu = np.concatenate([noisy_volume(40.0, seed) for seed in range(3)])  # 24 slices
    reach = receptive_field_radius(model)[0]
    uniform = denoise_hu(hu, run, NORMALIZATION, reach, noise_std_hu=40.0)
    np.testing.assert_allclose(denoise_hu(hu, run, NORMALIZATION, reach, noise_std_hu=np.full(24, 40.0)), uniform,
                               atol=1e-4)
    stepped = np.where(np.arange(24) < 12, 40.0, 200.0)
    mapped = denoise_hu(hu, run, NORMALIZATION, reach, noise_std_hu=stepped)
    far = 12 - reach  # slices further than the network's reach from the step were told the same everywhere
    assert np.abs(mapped[:far] - uniform[:far]).max() < 1e-3
    assert np.abs(mapped[12:] - uniform[12:]).mean() > 1.0  # slices told more noise are denoised otherwise


def test_a_slice_map_model_reports_its_map_in_the_event_and_header(tmp_path: Path) -> None:
    import SimpleITK as sitk

    from CTDenoiseLib.inference.pipeline import denoise_with, prepare_engine
    from CTDenoiseLib.io.volumes import Volume, write_volume
    from CTDenoiseLib.progress import JsonProgress

    engine = prepare_engine("stresnet", "fp32", "cpu")  # the shipped, noise-conditioned network
    sliced = replace(engine, loaded=replace(engine.loaded, noise_map="slice"))
    assert sliced.per_slice_noise and not engine.per_slice_noise
    rng = np.random.default_rng(0)
    hu = np.full((6, 96, 96), 40.0, np.float32)
    hu += rng.normal(0, 1, hu.shape).astype(np.float32) * np.linspace(20, 80, 6)[:, None, None].astype(np.float32)
    source = write_volume(Volume(hu, (0.8, 0.8, 2.5), (0.0, 0.0, 0.0), (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0)),
                          tmp_path / "in.nrrd")
    stream = __import__("io").StringIO()
    denoise_with(sliced, source, tmp_path / "out.nrrd", JsonProgress(stream))
    noise = next(json.loads(line) for line in stream.getvalue().splitlines() if '"noise"' in line)
    low, high = noise["map_hu"]
    assert 15 < low < 30 and 60 < high < 100  # the slices' levels, not the volume's one number
    assert sitk.ReadImage(str(tmp_path / "out.nrrd")).GetMetaData("ctdenoise_noise_map_hu") == f"{low:.1f}..{high:.1f}"
    denoise_with(engine, source, tmp_path / "plain.nrrd")
    assert not sitk.ReadImage(str(tmp_path / "plain.nrrd")).HasMetaDataKey("ctdenoise_noise_map_hu")


def test_training_patches_carry_a_level_per_slice(tmp_path: Path) -> None:
    from CTDenoiseTrainingLib.patches import PatchBatches
    from CTDenoiseTrainingLib.prepare import prepare_cases
    from CTDenoiseTrainingLib.sources import Case

    paths = write_crops(tmp_path / "data")
    cases = [Case("chestA", "chest", str(paths["chestA"])), Case("abdomen", "abdomen", str(paths["abdomen"]))]
    prepared = prepare_cases(cases, DoseSimulation(dose=0.1), 1, 1, tmp_path / "cache", log=lambda _: None)
    volume_level = PatchBatches(prepared, (4, 32, 32), batch=4, seed=3, noise_input=True, noise_level_jitter=0.0)
    per_slice = PatchBatches(prepared, (4, 32, 32), batch=4, seed=3, noise_input=True, noise_level_jitter=0.0,
                             per_slice_levels=True)
    (low, normal), (low_sliced, normal_sliced) = volume_level[5], per_slice[5]
    assert torch.equal(low[:, 0], low_sliced[:, 0]) and torch.equal(normal, normal_sliced)  # the same patches
    levels = low_sliced[:, 1, :, 0, 0] * UNIT_HU  # (batch, slices)
    assert torch.all(low_sliced[:, 1] == low_sliced[:, 1, :, :1, :1])  # constant within each slice
    added = (low_sliced[:, 0] - normal_sliced[:, 0]).flatten(2).std(2) * NORMALIZATION.scale  # per slice, HU
    assert torch.all(levels >= added * 0.999) and torch.all(levels <= torch.hypot(added, torch.tensor(60.0)))
    assert not torch.allclose(levels, levels[:, :1].expand_as(levels))  # the slices' levels differ


def test_real_pairs_get_their_share_of_patches() -> None:
    from CTDenoiseTrainingLib.patches import case_weights

    voxels, real = np.array([40e6, 5e6, 0.6e6]), np.array([False, False, True])
    np.testing.assert_allclose(case_weights(voxels, real), voxels / voxels.sum())
    weights = case_weights(voxels, real, 0.2)
    assert weights.sum() == pytest.approx(1.0) and weights[2] == pytest.approx(0.2)
    assert weights[0] / weights[1] == pytest.approx(8.0)  # the simulated cases still by voxel count


def test_the_phantom_trains_only_on_realisations_that_never_judge(tmp_path: Path) -> None:
    from CTDenoiseLib.simulation.lcd_phantom import (
        TRAINING_ABSENT_REALISATIONS,
        read_stack,
        real_realisations,
        training_pair,
    )
    from CTDenoiseTrainingLib.sources import phantom_case

    from conftest import shared_path

    root = shared_path("lcd_ct_phantom/fbp")
    low, target = training_pair(root)
    assert low.shape == target.shape == (10, 256, 256)
    absent_10 = read_stack(root / "dose_010" / "signal_absent" / "signal_absent.mhd")
    np.testing.assert_array_equal(low[:5], absent_10[:TRAINING_ABSENT_REALISATIONS])
    present, absent = real_realisations(root, 0.1)
    assert len(present) == 10 and len(absent) == 5
    assert not any(np.array_equal(a, b) for a in absent for b in low)  # detectability never sees them
    noise = [np.std((low - target)[index, 96:160, 96:160]) for index in (0, 9)]
    assert noise[0] > 1.8 * noise[1]  # 10 % then 55 % dose: the level steps along z
    case = phantom_case(str(root), tmp_path)
    assert case.low and Path(case.low).is_file() and Path(case.normal).is_file()
    with pytest.raises(ValueError, match="not the MITA phantom"):
        phantom_case(str(tmp_path), tmp_path)
