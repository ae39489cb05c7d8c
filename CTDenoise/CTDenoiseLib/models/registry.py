"""The model registry: which trained models exist, where their files are, and their SHA-256.

A model is a safetensors weights file and a JSON model card. Registries are JSON files named
``registry.json``: the one shipped in ``weights/`` and any in user model folders (``CTDENOISE_MODEL_DIRS``,
``os.pathsep``-separated, and ``~/.ctdenoise/models``), so newly trained models appear without code changes.
Loading verifies every file's hash before reading it; weights are never unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CTDenoiseError
from ..io.atomic import write_text_atomic

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "weights"  # CTDenoiseLib/weights, beside the subpackages
REGISTRY_NAME = "registry.json"
REGISTRY_FORMAT = 1


@dataclass(frozen=True)
class Artefact:
    """One file of a model with its expected SHA-256."""

    path: Path
    sha256: str

    def verified_path(self) -> Path:
        if not self.path.is_file():
            raise CTDenoiseError(f"Model file missing: '{self.path}'.",
                                 "Reinstall the extension or re-export the model.")
        actual = sha256_of(self.path)
        if actual != self.sha256:
            raise CTDenoiseError(
                f"Checksum mismatch for '{self.path.name}': expected SHA-256 {self.sha256[:16]}..., "
                f"got {actual[:16]}...",
                "The file is corrupt or was replaced; reinstall or re-download it. It was not loaded.")
        return self.path


@dataclass(frozen=True)
class ModelEntry:
    name: str
    weights: Artefact
    card: Artefact
    extra: dict[str, Artefact] = field(default_factory=dict)  # e.g. "int8": quantized artefact
    registry: Path = Path()

    def read_card(self) -> dict:
        return json.loads(self.card.verified_path().read_text(encoding="utf-8"))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_dirs() -> list[Path]:
    dirs = [SHIPPED_DIR]
    dirs += [Path(item) for item in os.environ.get("CTDENOISE_MODEL_DIRS", "").split(os.pathsep) if item]
    dirs.append(Path.home() / ".ctdenoise" / "models")
    return dirs


def _artefact(folder: Path, record: dict, registry: Path) -> Artefact:
    try:
        return Artefact(path=folder / record["file"], sha256=str(record["sha256"]).lower())
    except (KeyError, TypeError) as error:
        raise CTDenoiseError(f"Malformed entry in '{registry}': {record!r}.",
                             "Each file needs 'file' and 'sha256'.") from error


def read_registry(path: Path) -> list[ModelEntry]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise CTDenoiseError(f"Cannot read model registry '{path}' ({error}).", "Fix or remove that file.") from error
    if data.get("format") != REGISTRY_FORMAT or not isinstance(data.get("models"), list):
        raise CTDenoiseError(f"'{path}' is not a CTDenoise registry of format {REGISTRY_FORMAT}.")
    entries = []
    for record in data["models"]:
        if not isinstance(record, dict) or "name" not in record:
            raise CTDenoiseError(f"Malformed model entry in '{path}': {record!r}.")
        extra = {key: _artefact(path.parent, value, path) for key, value in record.get("extra", {}).items()}
        entries.append(ModelEntry(name=record["name"], weights=_artefact(path.parent, record["weights"], path),
                                  card=_artefact(path.parent, record["card"], path), extra=extra, registry=path))
    return entries


def list_models() -> list[ModelEntry]:
    """All registered models; a later folder's model of the same name overrides an earlier one."""
    found: dict[str, ModelEntry] = {}
    for folder in model_dirs():
        registry = folder / REGISTRY_NAME
        if registry.is_file():
            for entry in read_registry(registry):
                found[entry.name] = entry
    return list(found.values())


def find_model(name: str) -> ModelEntry:
    models = {entry.name: entry for entry in list_models()}
    if name not in models:
        known = ", ".join(sorted(models)) or "none"
        raise CTDenoiseError(f"Unknown model '{name}'.", f"Registered models: {known} (see `ctdenoise models`).")
    return models[name]


def register_model(folder: Path, name: str, weights: Path, card: Path, extra: dict[str, Path] | None = None) -> Path:
    """Add or replace ``name`` in ``folder/registry.json`` (files must already be in ``folder``); atomic write."""
    folder.mkdir(parents=True, exist_ok=True)
    registry = folder / REGISTRY_NAME
    empty = {"format": REGISTRY_FORMAT, "models": []}
    data = json.loads(registry.read_text(encoding="utf-8")) if registry.is_file() else empty

    def record(path: Path) -> dict:
        if path.parent.resolve() != folder.resolve():
            raise ValueError(f"{path} must be inside {folder}")
        return {"file": path.name, "sha256": sha256_of(path)}

    entry = {"name": name, "weights": record(weights), "card": record(card)}
    if extra:
        entry["extra"] = {key: record(path) for key, path in extra.items()}
    data["models"] = [model for model in data["models"] if model.get("name") != name] + [entry]
    data["models"].sort(key=lambda model: model["name"])
    write_text_atomic(registry, json.dumps(data, indent=2) + "\n")
    return registry
