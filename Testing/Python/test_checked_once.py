"""The main path does each check once: a batch file's output path once (before its input is read; the write does
not check it again), and an explicit precision once (before anything loads; prepare_engine is handed it)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiny_models import register_tiny_models  # noqa: E402

RUN = ["--model", "stresnet", "--precision", "fp32", "--device", "cpu", "--backend", "torch", "--progress", "none"]


def _count(monkeypatch, name: str, modules: tuple) -> list:
    """Count the calls of ``name`` wherever ``modules`` bound it."""
    calls: list = []
    original = getattr(modules[0], name)

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    for module in modules:
        monkeypatch.setattr(module, name, counted)
    return calls


def test_each_output_path_and_an_explicit_precision_are_checked_once(lidc_crop: Path, tmp_path: Path,
                                                                      monkeypatch) -> None:
    from CTDenoiseLib.cli import main
    from CTDenoiseLib.inference import pipeline
    from CTDenoiseLib.io import volumes
    from CTDenoiseLib.runtime import backends, precision_auto

    monkeypatch.setenv("CTDENOISE_MODEL_DIRS", str(register_tiny_models(tmp_path / "models")))
    output_checks = _count(monkeypatch, "check_output_path", (volumes, pipeline))
    resolutions = _count(monkeypatch, "resolve_choice", (backends, precision_auto))

    other = tmp_path / "other.nrrd"
    other.write_bytes(lidc_crop.read_bytes())
    assert main(["denoise", str(lidc_crop), str(other), str(tmp_path / "batch"), *RUN]) == 0
    assert len(list((tmp_path / "batch").iterdir())) == 2
    assert len(output_checks) == 2, output_checks  # one per file
    assert len(resolutions) == 1

    output_checks.clear()
    resolutions.clear()
    single = tmp_path / "single.nrrd"
    assert main(["denoise", str(lidc_crop), str(single), *RUN]) == 0
    assert len(resolutions) == 1, resolutions
    # before the model loads (fail fast), and for the file itself; not again when it is written
    assert [Path(call[0]) for call in output_checks] == [single, single]
