"""Training that outlives a session: every run folder committed under CTDenoiseTraining/runs continues with one
command from its latest checkpoint, and resuming from a run folder's own config.json continues exactly."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from CTDenoiseLib.cli import main  # noqa: E402
from CTDenoiseLib.models import build_model  # noqa: E402
from CTDenoiseTrainingLib.checkpoint import latest_checkpoint  # noqa: E402
from CTDenoiseTrainingLib.config import TrainConfig, read_config_file  # noqa: E402
from CTDenoiseTrainingLib.resume import RESUME_MUST_MATCH  # noqa: E402

from conftest import REPO  # noqa: E402
from training_data_helpers import TINY, final_weights, same_weights, write_crops  # noqa: E402

RUNS = REPO / "CTDenoiseTraining" / "runs"
COMMITTED = sorted(path.parent for path in RUNS.glob("*/config.json"))


def test_the_runs_folder_documents_each_run_and_ignores_the_cache() -> None:
    readme = (RUNS / "README.md").read_text(encoding="utf-8")
    assert COMMITTED, "no committed run folder"
    for run in COMMITTED:
        assert f"`{run.name}`" in readme and f"CTDenoiseTraining/runs/{run.name}/continue.sh" in readme
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8")
    assert "/CTDenoiseTraining/runs/simulation-cache/" in ignored


@pytest.mark.parametrize("run", COMMITTED, ids=[run.name for run in COMMITTED])
def test_a_committed_run_continues_from_its_latest_checkpoint(run: Path) -> None:
    script = run / "continue.sh"
    assert script.is_file() and os.access(script, os.X_OK)
    command = script.read_text(encoding="utf-8")
    assert f"ctdenoise train --config CTDenoiseTraining/runs/{run.name}/config.json --resume" in command
    values = read_config_file(run / "config.json")
    config = TrainConfig.from_dict(values)
    assert Path(config.run_dir) == Path("CTDenoiseTraining/runs") / run.name, "run_dir must be the committed folder"
    assert not Path(config.cache_dir).is_absolute() and not any(Path(p).is_absolute() for p in config.validation)
    latest = latest_checkpoint(run / "checkpoints")
    assert latest is not None, f"{run.name}: no checkpoint to continue from"
    state = json.loads((latest / "state.json").read_text(encoding="utf-8"))
    assert {key: state["config"].get(key) for key in RESUME_MUST_MATCH} == \
           {key: config.to_dict().get(key) for key in RESUME_MUST_MATCH}
    model = build_model(config.model_config())
    model.load_state_dict(load_file(str(latest / "model.safetensors")))  # strict: the network the config builds
    moments = load_file(str(latest / "optimizer.safetensors"))
    assert "rng.torch" in moments and any(key.endswith("exp_avg") for key in moments)
    size = sum(path.stat().st_size for path in run.rglob("*") if path.is_file())
    assert size < 20e6, f"{run.name} holds {size / 1e6:.1f} MB: keep fewer checkpoints"


def test_resuming_from_the_run_folders_own_config_continues_exactly(tmp_path: Path) -> None:
    crops = write_crops(tmp_path / "crops")
    common = ["train", "--name", "one", *TINY, "--steps", "4", "--threads", "1",
              "--data-dir", str(crops["chestA"].parent),
              "--validation", str(crops["lidc"]), "--cache-dir", str(tmp_path / "cache")]
    assert main([*common, "--run-dir", str(tmp_path / "straight")]) == 0
    assert main([*common, "--run-dir", str(tmp_path / "stopped"), "--stop-after", "2"]) == 0
    assert main(["train", "--config", str(tmp_path / "stopped" / "config.json"), "--resume"]) == 0
    assert same_weights(final_weights(tmp_path / "straight"), final_weights(tmp_path / "stopped"))
    assert (tmp_path / "stopped" / "one.card.json").is_file()  # the continued run exported as the straight one
