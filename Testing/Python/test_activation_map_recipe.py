"""Lesion classifier, its class activation maps and the activation-map training step, on constructed patches."""

from __future__ import annotations

import numpy as np
import torch

from CTDenoiseTrainingLib.recipes.activation_map import (
    ActivationMapOptions,
    ActivationMapRecipe,
    activation_maps,
    map_weighted_l1,
)
from CTDenoiseTrainingLib.recipes.lesion_classifier import accuracy, train_classifier
from CTDenoiseTrainingLib.recipes.lesion_patches import load_classifier, save_classifier


def disks(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """n patches of 24x24 in 20 HU noise, half with a +150 HU disk of radius 3 at a random place."""
    rng = np.random.default_rng(seed)
    patches = rng.normal(0, 20, (n, 24, 24)).astype(np.float32)
    labels = np.arange(n) % 2
    centres = rng.integers(6, 18, (n, 2))
    yy, xx = np.mgrid[:24, :24]
    for i in np.flatnonzero(labels):
        patches[i][np.hypot(yy - centres[i, 0], xx - centres[i, 1]) <= 3] += 150
    return torch.from_numpy(patches), torch.from_numpy(labels), centres


def test_classifier_learns_lesions_and_its_map_points_at_them(tmp_path):
    x, y, _ = disks(128, seed=0)
    model = train_classifier(x, y, epochs=8, features=8)
    test_x, test_y, centres = disks(32, seed=1)
    assert accuracy(model, test_x, test_y) > 0.9
    saved = load_classifier(save_classifier(model, tmp_path, {"name": "test"}), features=8)
    maps = activation_maps(saved, test_x[:, None, None])  # (N, 1, Z=1, Y, X)
    assert maps.min() >= 0 and maps.max() <= 1
    hits = [np.hypot(*(np.unravel_index(int(maps[i, 0, 0].argmax()), (24, 24)) - centres[i])) <= 4
            for i in range(32) if test_y[i]]
    assert np.mean(hits) > 0.8


def test_map_weighted_loss_counts_only_where_the_map_is():
    prediction, target = torch.zeros(1, 1, 1, 2, 2), torch.tensor([[[[[1.0, 3.0], [0.0, 0.0]]]]])
    weights = torch.tensor([[[[[1.0, 0.0], [0.0, 0.0]]]]])
    assert float(map_weighted_l1(prediction, target, weights)) == 1.0


class Spy(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return x * self.scale


def _step(variant: str) -> tuple[Spy, torch.Tensor, torch.Tensor, ActivationMapRecipe]:
    x, y, _ = disks(64, seed=2)
    classifier = train_classifier(x, y, epochs=4, features=8)
    recipe = ActivationMapRecipe(ActivationMapOptions(variant=variant), classifier, lambda t: t * 1000.0)
    normal = torch.stack([disks(2, seed=3)[0]] * 3, dim=1)[:, None] / 1000.0  # (2, 1, 3, 24, 24) normalised
    low = normal + 0.02 * torch.randn_like(normal)
    network = Spy()
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler(enabled=False)
    loss = recipe.step(network, low, normal, torch.nn.functional.l1_loss, optimizer, scaler, "off", torch.device("cpu"))
    assert torch.isfinite(loss) and float(network.scale) != 1.0  # a real step was taken
    return network, low, normal, recipe


def test_multiply_variant_feeds_the_network_low_dose_times_the_map():
    network, low, normal, recipe = _step("multiply")
    maps = activation_maps(recipe.classifier, normal * 1000.0)
    torch.testing.assert_close(network.seen[0], low * maps)
    assert recipe.card()["variant"] == "multiply" and "mean_activation_map" in recipe.terms()


def test_multiply_variant_keeps_the_noise_level_channel_of_a_noise_conditioned_network():
    from CTDenoiseTrainingLib.recipes.activation_map import masked_input

    image, level = torch.rand(2, 1, 3, 8, 8), torch.full((2, 1, 3, 8, 8), 0.4)
    maps = torch.rand(2, 1, 3, 8, 8)
    masked = masked_input(torch.cat([image, level], dim=1), maps)
    torch.testing.assert_close(masked[:, :1], image * maps)
    torch.testing.assert_close(masked[:, 1:], level)


def test_weight_variant_feeds_the_plain_low_dose():
    network, low, _, recipe = _step("weight")
    torch.testing.assert_close(network.seen[0], low)
    assert recipe.checkpoint_state()["recipe"]["activation_map"]["variant"] == "weight"


def _classifier(folder) -> str:
    """A lesion classifier of 8 features trained on the disks and saved by the classifier code."""
    x, y, _ = disks(64, seed=4)
    return str(save_classifier(train_classifier(x, y, epochs=2, features=8), folder, {"name": "test"}))


def test_train_runs_the_activation_map_recipe_end_to_end_and_records_it(tmp_path) -> None:
    import json
    import sys
    from pathlib import Path

    from safetensors.torch import load_file

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from CTDenoiseLib.cli import main

    from training_data_helpers import write_crops

    crops = write_crops(tmp_path / "crops")
    classifier = _classifier(tmp_path / "classifier")
    common = ["train", "--architecture", "stresnet", "--features", "4", "--blocks", "1", "--patch", "8", "24", "24",
              "--batch", "2", "--realisations", "1", "--validate-every", "2", "--checkpoint-every", "2",
              "--int8", "off", "--tensorboard", "off", "--threads", "1", "--steps", "2",
              "--data-dir", str(crops["chestA"].parent), "--validation", str(crops["lidc"]),
              "--cache-dir", str(tmp_path / "cache")]
    recipe = ["--recipe", "activation-map", "--lesion-classifier", classifier, "--lesion-classifier-features", "8"]
    assert main([*common, *recipe, "--name", "am", "--run-dir", str(tmp_path / "am")]) == 0
    # A noise-conditioned network (two input channels) fine-tunes with the recipe too.
    assert main([*common, *recipe, "--noise-input", "--name", "am-nc", "--run-dir", str(tmp_path / "am-nc")]) == 0
    card_nc = json.loads((tmp_path / "am-nc" / "am-nc.card.json").read_text())
    assert card_nc["training"]["config"]["noise_input"] and card_nc["training"]["recipe"]["name"] == "activation-map"
    assert main([*common, "--name", "plain", "--run-dir", str(tmp_path / "plain")]) == 0

    def final(run: Path) -> dict:
        latest = json.loads((run / "checkpoints" / "latest.json").read_text())["folder"]
        return load_file(str(run / "checkpoints" / latest / "model.safetensors"))

    am, plain = final(tmp_path / "am"), final(tmp_path / "plain")
    # A real recipe step was taken: the weights moved, and not as the plain recipe moves them.
    assert any(not torch.equal(am[key], plain[key]) for key in am)
    state = json.loads((tmp_path / "am" / "checkpoints" / "step-00000002" / "state.json").read_text())
    assert 0 <= state["history"][-1]["mean_activation_map"] <= 1
    config = json.loads((tmp_path / "am" / "config.json").read_text())
    assert config["recipe"] == "activation-map" and config["lesion_classifier"] == classifier
    card = json.loads((tmp_path / "am" / "am.card.json").read_text())["training"]["recipe"]
    assert card["name"] == "activation-map" and card["variant"] == "multiply" and card["classifier"] == classifier
    assert len(card["classifier_sha256"]) == 64


def test_activation_map_recipe_refuses_a_missing_classifier_and_slice_upscaling(tmp_path) -> None:
    import pytest

    from CTDenoiseTrainingLib.config import TrainConfig

    for bad, message in (({}, "needs lesion_classifier"),
                         ({"lesion_classifier": str(tmp_path / "none.safetensors")}, "is not a readable file"),
                         ({"lesion_classifier": _classifier(tmp_path), "z_upscale": 2, "patch": [16, 64, 64]},
                          "needs z_upscale 1"),
                         ({"lesion_classifier": _classifier(tmp_path), "activation_map_variant": "x"}, "variant")):
        with pytest.raises(ValueError, match=message):
            TrainConfig.from_dict({"recipe": "activation-map", **bad})


def test_resuming_with_other_activation_map_keys_is_refused() -> None:
    from CTDenoiseTrainingLib.recipes.options import recipe_differences

    current = {"recipe": "activation-map", "lesion_classifier": "a.safetensors", "lesion_classifier_features": 16,
               "activation_map_variant": "weight", "activation_map_floor": 0.1}
    saved = {**current, "lesion_classifier": "b.safetensors", "activation_map_floor": 0.2}
    assert {"lesion_classifier", "activation_map_floor"} <= set(recipe_differences(saved, current, {}))


def test_train_command_refuses_a_missing_classifier_in_one_line(tmp_path, capsys) -> None:
    from CTDenoiseLib.cli import main

    missing = tmp_path / "missing.safetensors"
    assert main(["train", "--recipe", "activation-map", "--lesion-classifier", str(missing),
                 "--run-dir", str(tmp_path / "run")]) != 0
    error = capsys.readouterr().err
    assert f"lesion_classifier {missing} is not a readable file" in error
