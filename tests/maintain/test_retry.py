"""Commit races with a concurrent writer are retried on a fresh table; other errors are not."""

from __future__ import annotations

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError

from coptwin.maintenance.retry import RetriesExhausted, is_conflict, with_retry


def _table(tmp_path) -> str:
    uri = str(tmp_path / "t")
    for i in range(6):
        write_deltalake(uri, pl.DataFrame({"rid": [i]}), mode="append")
    return uri


def _compact_after_a_concurrent_delete(uri: str, rid: int) -> dict:
    """Compaction whose snapshot loses to a DELETE committed meanwhile: a real conflict."""
    stale = DeltaTable(uri)
    DeltaTable(uri).delete(f"rid = {rid}")
    return stale.optimize.compact()


def test_a_lost_race_is_retried_on_a_fresh_table(tmp_path):
    uri = _table(tmp_path)
    calls = []

    def step() -> dict:
        calls.append(1)
        if len(calls) == 1:
            return _compact_after_a_concurrent_delete(uri, 0)
        return DeltaTable(uri).optimize.compact()

    metrics, attempts = with_retry(step, "compaction", sleep=lambda s: None)
    assert attempts == 2 and metrics["numFilesRemoved"] == 5
    assert sorted(pl.read_delta(uri)["rid"].to_list()) == [1, 2, 3, 4, 5]


def test_retries_are_bounded_and_nothing_is_committed(tmp_path):
    uri = _table(tmp_path)
    rids = iter(range(6))
    waits: list[float] = []
    with pytest.raises(RetriesExhausted, match="gave up after 3") as info:
        with_retry(
            lambda: _compact_after_a_concurrent_delete(uri, next(rids)),
            "compaction",
            attempts=3,
            base_delay_s=0.01,
            sleep=waits.append,
        )
    assert info.value.attempts == 3 and len(waits) == 2 and waits[1] > waits[0] / 2
    assert "OPTIMIZE" not in {h["operation"] for h in DeltaTable(uri).history()}


def test_only_commit_conflicts_count(tmp_path):
    uri = _table(tmp_path)
    try:
        _compact_after_a_concurrent_delete(uri, 1)
    except CommitFailedError as exc:
        assert is_conflict(exc)
    else:  # pragma: no cover - delta-rs resolved the race itself
        pytest.fail("expected a commit conflict")
    with pytest.raises(DeltaError) as real:
        DeltaTable(uri).vacuum(retention_hours=0, dry_run=True)
    assert not is_conflict(real.value)
    assert not is_conflict(ValueError("commit failed"))
    calls = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("not a race")

    with pytest.raises(ValueError):
        with_retry(broken, "x", sleep=lambda s: None)
    assert len(calls) == 1
