"""The model registry: shipped entries are valid, hashes are verified, and tampered files are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from CTDenoiseLib.errors import CTDenoiseError
from CTDenoiseLib.inference.tiling import halo_zyx
from CTDenoiseLib.models import receptive_field_radius
from CTDenoiseLib.models.files import load_model
from CTDenoiseLib.models.registry import SHIPPED_DIR, find_model, read_registry, sha256_of

SHIPPED_ARCHITECTURES = {"srresnet": "srresnet", "stresnet": "stresnet", "stresnet-am": "stresnet", "stunet": "stunet"}
SHIPPED = tuple(SHIPPED_ARCHITECTURES)
DEFAULTS = ("srresnet", "stresnet", "stunet")  # one per network; every other shipped model is an alternative


def test_shipped_registry_lists_every_network_with_matching_hashes() -> None:
    entries = {entry.name: entry for entry in read_registry(SHIPPED_DIR / "registry.json")}
    assert set(SHIPPED) == set(entries)
    for name in SHIPPED:
        entry = entries[name]
        assert sha256_of(entry.weights.path) == entry.weights.sha256
        assert sha256_of(entry.card.path) == entry.card.sha256
        card = entry.read_card()
        assert card["config"]["architecture"] == SHIPPED_ARCHITECTURES[name]
        assert name in DEFAULTS or "not the default" in card.get("note", ""), f"{name}: an alternative says so"
        for key in ("hu_normalization", "training", "metrics", "inference", "parameters", "macs_per_voxel"):
            assert key in card, f"{name} card lacks {key}"
        assert card["training"]["command"].startswith("ctdenoise train")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_models_load_and_their_halo_is_within_the_receptive_field(name: str) -> None:
    model = load_model(name)
    radius = receptive_field_radius(model.module)
    assert all(0 < halo <= reach for halo, reach in zip(halo_zyx(model.halo), radius)), (model.halo, radius)


@pytest.fixture
def copied_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    shutil.copytree(SHIPPED_DIR, folder)
    registry = json.loads((folder / "registry.json").read_text())
    for model in registry["models"]:
        model["name"] = "copy-" + model["name"]
    (folder / "registry.json").write_text(json.dumps(registry))
    monkeypatch.setenv("CTDENOISE_MODEL_DIRS", str(folder))
    return folder


def test_a_model_in_a_user_folder_is_found_without_code_changes(copied_models: Path) -> None:
    assert load_model("copy-stresnet").config.architecture == "stresnet"


def test_a_tampered_weights_file_is_refused_before_loading(copied_models: Path) -> None:
    weights = find_model("copy-stresnet").weights.path
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CTDenoiseError, match="Checksum mismatch .* It was not loaded"):
        load_model("copy-stresnet")


def test_a_tampered_card_is_refused(copied_models: Path) -> None:
    card = find_model("copy-srresnet").card.path
    card.write_text(card.read_text().replace('"features": 16', '"features": 17'))
    with pytest.raises(CTDenoiseError, match="Checksum mismatch"):
        load_model("copy-srresnet")


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(CTDenoiseError, match="Unknown model 'nope'.*stresnet"):
        find_model("nope")


def test_a_broken_registry_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "registry.json").write_text('{"format": 1, "models": [},')
    with pytest.raises(CTDenoiseError, match="Cannot read model registry"):
        read_registry(tmp_path / "registry.json")
