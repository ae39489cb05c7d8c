"""Lesion classifier, its class activation maps and the activation-map training step, on constructed patches."""

from __future__ import annotations

import numpy as np
import torch

from CTDenoiseTrainingLib.activation_map_recipe import (
    ActivationMapOptions,
    ActivationMapRecipe,
    activation_maps,
    map_weighted_l1,
)
from CTDenoiseTrainingLib.lesion_classifier import accuracy, train_classifier
from CTDenoiseTrainingLib.lesion_patches import load_classifier, save_classifier


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


def test_weight_variant_feeds_the_plain_low_dose():
    network, low, _, recipe = _step("weight")
    torch.testing.assert_close(network.seen[0], low)
    assert recipe.checkpoint_state()["recipe"]["activation_map"]["variant"] == "weight"
