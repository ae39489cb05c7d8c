"""``atomic_write``: the one temporary-name-then-rename helper every writer uses. A completed write replaces the
target; a failed or interrupted one leaves the target as it was and no temporary file behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from CTDenoiseLib.io.atomic import atomic_write, partial_name, write_text_atomic


def test_a_completed_write_replaces_the_target_and_leaves_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    target.write_text("old")
    with atomic_write(target) as partial:
        assert partial == partial_name(target) == tmp_path / ".report.csv.partial"
        partial.write_text("new")
        assert target.read_text() == "old"  # readers see the old file until the write is complete
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_target_and_removes_the_temporary(tmp_path: Path, error: BaseException) -> None:
    target = tmp_path / "card.json"
    target.write_text("good")
    with pytest.raises(type(error)):
        with atomic_write(target) as partial:
            partial.write_text("half")
            raise error
    assert target.read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.json"]


def test_a_folder_is_written_the_same_way_and_removed_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "series"
    with pytest.raises(RuntimeError):
        with atomic_write(target, tmp_path / ".series.x.partial") as partial:
            partial.mkdir()
            (partial / "CT000001.dcm").write_bytes(b"x")
            raise RuntimeError("verification failed")
    assert list(tmp_path.iterdir()) == []
    with atomic_write(target, tmp_path / ".series.y.partial") as partial:
        partial.mkdir()
        (partial / "CT000001.dcm").write_bytes(b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["series"] and (target / "CT000001.dcm").is_file()


def test_write_text_atomic(tmp_path: Path) -> None:
    assert write_text_atomic(tmp_path / "registry.json", "{}\n") == tmp_path / "registry.json"
    assert (tmp_path / "registry.json").read_text(encoding="utf-8") == "{}\n"
