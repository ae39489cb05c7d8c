"""Noise-conditioned networks (FFDNet-style second input channel): model, every runner, self-ensemble, the
level fed at inference, training patches, and fine-tuning a blind model into one."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from CTDenoiseLib.hu import HUNormalization  # noqa: E402
from CTDenoiseLib.inference.self_ensemble import self_ensemble  # noqa: E402
from CTDenoiseLib.inference.tiled import denoise_hu  # noqa: E402
from CTDenoiseLib.models import ModelConfig, build_model  # noqa: E402
from CTDenoiseLib.models.noise_channel import FALLBACK_STD_HU, UNIT_HU, channel_value, input_channels  # noqa: E402
from CTDenoiseLib.models.noise_level_gain import NoiseLevelGain  # noqa: E402
from CTDenoiseLib.runtime.backends import TorchRunner  # noqa: E402
from CTDenoiseLib.simulation.low_dose import DoseSimulation  # noqa: E402

from training_data_helpers import write_crops  # noqa: E402

NORMALIZATION = HUNormalization()


def conditioned_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(ModelConfig("stresnet", 8, 2, noise_input=True))
    torch.nn.init.normal_(model.tail.weight, std=0.05)  # not the identity: the level must be able to matter
    with torch.no_grad():
        model.head.weight[:, 1] *= 20  # make the level's influence large enough to see
    return model.eval()


def noisy_volume(std_hu: float = 40.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    volume = np.full((8, 64, 64), 40.0, np.float32)
    volume[:, 20:44, 20:44] = 300.0
    return volume + rng.normal(0, std_hu, volume.shape).astype(np.float32)


def test_model_config_round_trip_and_blind_cards_unchanged() -> None:
    config = ModelConfig("stresnet", 8, 2, noise_input=True)
    assert ModelConfig.from_dict(config.to_dict()) == config
    assert "noise_input" not in ModelConfig("stresnet", 8, 2).to_dict()
    assert build_model(config).head.in_channels == 2
    assert build_model(ModelConfig("srresnet", 8, 2)).head.in_channels == 1


def test_the_residual_is_added_to_the_image_channel_only() -> None:
    model = build_model(ModelConfig("srresnet", 4, 1, noise_input=True))  # zero output conv: the identity
    image = torch.rand(1, 1, 4, 16, 16)
    out = model(torch.cat([image, torch.full_like(image, 0.7)], 1))
    assert out.shape == image.shape and torch.equal(out, image)


def test_inference_feeds_the_given_level_or_the_estimate() -> None:
    run = TorchRunner(conditioned_model(), "cpu")
    assert input_channels(run) == 2
    assert input_channels(TorchRunner(build_model(ModelConfig("stresnet", 4, 1)), "cpu")) == 1
    hu = noisy_volume(40.0)
    estimated = denoise_hu(hu, run, NORMALIZATION, 6)
    from CTDenoiseLib.noise.estimate import estimate_noise_std

    given_estimate = denoise_hu(hu, run, NORMALIZATION, 6, noise_std_hu=estimate_noise_std(hu).std_hu)
    np.testing.assert_allclose(estimated, given_estimate, atol=1e-3)
    other_level = denoise_hu(hu, run, NORMALIZATION, 6, noise_std_hu=250.0)
    assert np.abs(other_level - estimated).mean() > 1.0  # the level reaches the network
    assert channel_value(float("nan")) == FALLBACK_STD_HU / UNIT_HU == channel_value(None)


def test_openvino_and_self_ensemble_take_the_level_like_pytorch() -> None:
    pytest.importorskip("openvino")
    from CTDenoiseLib.runtime.openvino_backend import OpenVINORunner, convert_module

    model = conditioned_model(1)
    hu = noisy_volume(60.0, seed=1)
    eager = denoise_hu(hu, TorchRunner(model, "cpu"), NORMALIZATION, 6, noise_std_hu=60.0)
    openvino = OpenVINORunner(convert_module(model))
    assert openvino.input_channels == 2
    np.testing.assert_allclose(denoise_hu(hu, openvino, NORMALIZATION, 6, noise_std_hu=60.0), eager, atol=0.05)
    assert np.abs(eager - hu).mean() > 1.0  # the network changes the input: the comparison means something
    ensemble = self_ensemble(TorchRunner(model, "cpu"))
    assert input_channels(ensemble) == 2
    averaged = denoise_hu(hu, ensemble, NORMALIZATION, 6, noise_std_hu=60.0)
    assert averaged.shape == hu.shape and np.abs(averaged - eager).mean() < np.abs(eager - hu).mean()


def test_training_patches_carry_the_patch_noise_level(tmp_path: Path) -> None:
    from CTDenoiseTrainingLib.patches import PatchBatches
    from CTDenoiseTrainingLib.prepare import prepare_cases
    from CTDenoiseTrainingLib.sources import Case

    paths = write_crops(tmp_path / "data")
    cases = [Case("chestA", "chest", str(paths["chestA"])), Case("abdomen", "abdomen", str(paths["abdomen"]))]
    prepared = prepare_cases(cases, DoseSimulation(dose=0.1), 1, 1, tmp_path / "cache", log=lambda _: None)
    plain = PatchBatches(prepared, (4, 32, 32), batch=6, seed=3)
    data = PatchBatches(prepared, (4, 32, 32), batch=6, seed=3, noise_input=True, noise_level_jitter=0.0)
    low, normal = data[7]
    assert low.shape == (6, 2, 4, 32, 32) and normal.shape == (6, 1, 4, 32, 32)
    # The first patch is drawn as a blind run draws it (the level's jitter is drawn after it).
    assert torch.equal(low[0, :1], plain[7][0][0]) and torch.equal(normal[0], plain[7][1][0])
    levels = low[:, 1].flatten(1)
    assert torch.equal(levels.min(1).values, levels.max(1).values)  # constant per patch
    added = (low[:, 0] - normal[:, 0]).flatten(1).std(1) * NORMALIZATION.scale  # HU
    measured = levels[:, 0] * UNIT_HU
    assert torch.all(measured >= added * 0.999) and torch.all(measured <= torch.hypot(added, torch.tensor(60.0)))
    jittered = PatchBatches(prepared, (4, 32, 32), batch=6, seed=3, noise_input=True, noise_level_jitter=0.15)[7][0]
    ratio = jittered[:, 1, 0, 0, 0] / low[:, 1, 0, 0, 0]
    assert torch.all((ratio > 0.849) & (ratio < 1.151)) and not torch.allclose(ratio, torch.ones(6))


def test_fine_tuning_a_blind_model_starts_as_that_model() -> None:
    from types import SimpleNamespace

    from CTDenoiseTrainingLib.fine_tune import initialise_from

    torch.manual_seed(0)
    blind = build_model(ModelConfig("stresnet", 8, 2))
    torch.nn.init.normal_(blind.tail.weight, std=0.05)
    conditioned = build_model(ModelConfig("stresnet", 8, 2, noise_input=True))
    initialise_from(conditioned, SimpleNamespace(module=blind, card={}, name="blind", entry=None,
                                                 config=ModelConfig("stresnet", 8, 2)))
    image = torch.rand(1, 1, 4, 24, 24)
    with torch.no_grad():
        for level in (0.1, 2.0):
            torch.testing.assert_close(conditioned(torch.cat([image, torch.full_like(image, level)], 1)), blind(image))


def test_the_noise_level_gain_multiplies_the_level_the_network_is_told() -> None:
    from CTDenoiseLib.noise.estimate import estimate_noise_std

    run = TorchRunner(conditioned_model(2), "cpu")
    hu = noisy_volume(50.0, seed=2)
    told_more = denoise_hu(hu, run, NORMALIZATION, 6, noise_level_gain=1.6)
    np.testing.assert_allclose(told_more, denoise_hu(hu, run, NORMALIZATION, 6,
                                                     noise_std_hu=1.6 * estimate_noise_std(hu).std_hu), atol=1e-3)
    assert np.abs(told_more - denoise_hu(hu, run, NORMALIZATION, 6)).mean() > 0.5
    given = denoise_hu(hu, run, NORMALIZATION, 6, noise_std_hu=40.0, noise_level_gain=2.0)
    np.testing.assert_allclose(given, denoise_hu(hu, run, NORMALIZATION, 6, noise_std_hu=80.0), atol=1e-3)


def test_the_engine_tells_the_network_its_cards_gain() -> None:
    from dataclasses import replace

    from CTDenoiseLib.inference.pipeline import prepare_engine
    from CTDenoiseLib.noise.estimate import estimate_noise_std

    engine = prepare_engine("stresnet", "fp32", "cpu")
    hu = noisy_volume(60.0, seed=3)
    plain = replace(engine, loaded=replace(engine.loaded, noise_level_gain=NoiseLevelGain()))
    gained = replace(engine, loaded=replace(engine.loaded, noise_level_gain=NoiseLevelGain.constant(1.5)))
    np.testing.assert_allclose(gained.denoise(hu, noise_std_hu=60.0), plain.denoise(hu, noise_std_hu=90.0),
                               atol=1e-3)
    grain = estimate_noise_std(hu).grain  # white noise: about 1
    by_grain = NoiseLevelGain((grain - 0.1, grain + 0.1), (2.0, 1.0))  # 1.5 at this input's grain
    np.testing.assert_allclose(replace(engine, loaded=replace(engine.loaded, noise_level_gain=by_grain)).denoise(
        hu, noise_std_hu=60.0), plain.denoise(hu, noise_std_hu=90.0), atol=1e-3)


def test_a_cards_noise_level_gain_is_read_and_checked() -> None:
    from CTDenoiseLib.errors import CTDenoiseError
    from CTDenoiseLib.models.noise_level_gain import from_card

    assert from_card({}, "m").for_grain(0.6) == 1.0 and from_card({"noise_level_gain": 1.4}, "m").for_grain(0.6) == 1.4
    table = from_card({"noise_level_gain": {"grain": [0.7, 0.85], "gain": [1.4, 1.0]}}, "m")
    assert table.for_grain(0.5) == 1.4 and table.for_grain(0.775) == pytest.approx(1.2) and table.for_grain(1.2) == 1.0
    assert table.for_grain(float("nan")) == 1.0 and table.to_card() == {"grain": [0.7, 0.85], "gain": [1.4, 1.0]}
    for bad in (0, -1.0, "1.4", True, None, 50, {"grain": [0.8, 0.7], "gain": [1, 2]}, {"grain": [0.7], "gain": []},
                {"grain": [0.7, 0.8], "gain": [1.0, 20]}):
        with pytest.raises(CTDenoiseError, match="noise_level_gain"):
            from_card({"noise_level_gain": bad}, "m")


def test_int8_calibration_feeds_the_level_with_the_gain(tmp_path: Path) -> None:
    from CTDenoiseLib.runtime.quantization import CalibrationSettings, calibration_patches

    paths = write_crops(tmp_path / "data")
    settings = CalibrationSettings(patches=2, patch=(4, 32, 32))
    plain = calibration_patches([paths["chestA"]], NORMALIZATION, settings, channels=2)
    gained = calibration_patches([paths["chestA"]], NORMALIZATION, settings, channels=2,
                                 noise_level_gain=NoiseLevelGain.constant(1.5))
    for one, other in zip(plain, gained):
        np.testing.assert_array_equal(one[:, 0], other[:, 0])
        np.testing.assert_allclose(other[:, 1], 1.5 * one[:, 1], rtol=1e-6)
