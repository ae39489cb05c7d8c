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
    """One file of a model with its expected SHA-256.

    Attributes:
        path: where the file is (the registry's folder joined with the recorded file name).
        sha256: the expected SHA-256, lower-case hex.
    """

    path: Path
    sha256: str

    def verified_path(self) -> Path:
        """The file's path, once its SHA-256 has been checked against the expected one.

        Returns:
            ``path``.

        Raises:
            CTDenoiseError: the file is missing, or its SHA-256 differs from ``sha256``.
        """
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
    """One registered model: its name, its files and the registry that lists it.

    Attributes:
        name: the model's name, as ``find_model`` and the command line take it.
        weights: the safetensors weights file.
        card: the JSON model card.
        extra: further artefacts by kind, e.g. ``"int8"``: the quantized model.
        registry: the ``registry.json`` the entry was read from.
    """

    name: str
    weights: Artefact
    card: Artefact
    extra: dict[str, Artefact] = field(default_factory=dict)  # e.g. "int8": quantized artefact
    registry: Path = Path()

    def read_card(self) -> dict:
        """The model card's JSON, read after verifying its SHA-256 (``Artefact.verified_path``).

        Returns:
            The parsed card.
        """
        return json.loads(self.card.verified_path().read_text(encoding="utf-8"))


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks.

    Args:
        path: the file.

    Returns:
        The digest as lower-case hex.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_dirs() -> list[Path]:
    """The folders searched for a ``registry.json``, in override order (a later one's model wins).

    Returns:
        ``SHIPPED_DIR``, then each folder of ``CTDENOISE_MODEL_DIRS`` (``os.pathsep``-separated, empty items
        skipped), then ``~/.ctdenoise/models``; the folders need not exist.
    """
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
    """The models listed in one registry file; file paths are resolved against its folder, nothing is hashed.

    Args:
        path: a ``registry.json``.

    Returns:
        Its entries, in the file's order.

    Raises:
        CTDenoiseError: the file cannot be read or is not JSON, is not a registry of format ``REGISTRY_FORMAT``,
            or has a model entry without a name or a file record without ``file`` and ``sha256``.
    """
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
    """All registered models; a later folder's model of the same name overrides an earlier one.

    Returns:
        The entries of every ``registry.json`` in ``model_dirs()``, one per model name.
    """
    found: dict[str, ModelEntry] = {}
    for folder in model_dirs():
        registry = folder / REGISTRY_NAME
        if registry.is_file():
            for entry in read_registry(registry):
                found[entry.name] = entry
    return list(found.values())


def find_model(name: str) -> ModelEntry:
    """The registered model of this name (see ``list_models``).

    Args:
        name: the model's name.

    Returns:
        Its entry.

    Raises:
        CTDenoiseError: no registered model has this name; the message lists those that exist.
    """
    models = {entry.name: entry for entry in list_models()}
    if name not in models:
        known = ", ".join(sorted(models)) or "none"
        raise CTDenoiseError(f"Unknown model '{name}'.", f"Registered models: {known} (see `ctdenoise models`).")
    return models[name]


def register_model(folder: Path, name: str, weights: Path, card: Path, extra: dict[str, Path] | None = None) -> Path:
    """Add or replace ``name`` in ``folder/registry.json`` (files must already be in ``folder``); atomic write.

    Args:
        folder: the model folder; created if missing, and a new registry started where it has none.
        name: the model's name; an entry of the same name is replaced.
        weights: the safetensors weights file, in ``folder``.
        card: the JSON model card, in ``folder``.
        extra: further artefacts by kind (e.g. ``"int8"``), each in ``folder``.

    Returns:
        The path of the registry written.

    Raises:
        ValueError: a file is not directly inside ``folder``.
    """
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
