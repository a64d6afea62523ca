"""Issue 12, item 3: a table deleted and recreated under a running reader is reloaded in full.

Before the fix, a new table with more commits than the applied version was
read as a continuation (only its last commits), and one with the same number
of commits was not read at all.
"""

from __future__ import annotations

import logging

import pytest


def _recreate(t, commits: int, rows: int = 4) -> None:
    t.delete()
    for _ in range(commits):
        t.append(rows)


def test_recreated_with_more_commits_is_a_full_reload(fault_table, caplog):
    t = fault_table
    t.append(3)
    t.append(3)
    t.tick()
    _recreate(t, commits=4)
    with caplog.at_level(logging.INFO, logger="coptwin.delta"):
        batch = t.tick()
    assert batch.full_reload and "recreated" in batch.reason, batch.reason
    assert batch.rows == 16
    assert any("recreated" in r.getMessage() for r in caplog.records)
    t.check()


def test_recreated_with_the_same_number_of_commits_is_a_full_reload(fault_table):
    t = fault_table
    t.append(5)
    t.append(5)
    t.tick()
    _recreate(t, commits=2, rows=3)
    batch = t.tick()
    assert batch is not None and batch.full_reload and "recreated" in batch.reason
    assert batch.rows == 6
    t.check()


def test_recreated_with_fewer_commits_is_a_full_reload(fault_table):
    t = fault_table
    for _ in range(3):
        t.append(2)
    t.tick()
    _recreate(t, commits=1, rows=7)
    batch = t.tick()
    assert batch.full_reload and batch.rows == 7
    t.check()


def test_plain_appends_are_never_mistaken_for_a_new_table(fault_table):
    t = fault_table
    t.append(2)
    t.tick()
    for _ in range(3):
        t.append(2)
        batch = t.tick()
        assert not batch.full_reload, batch.reason
    t.check()


@pytest.mark.s3
def test_a_storage_restart_is_not_mistaken_for_a_new_table(s3_running, fault_table_at):
    """The commit files' identity (ETag) survives a SeaweedFS restart: no needless reload."""
    s3 = s3_running
    bucket = s3.new_bucket("faults-restart")
    t = fault_table_at(f"s3://{bucket}/cop", s3.storage_options())
    t.append(4)
    t.tick()
    s3.restart()
    t.append(3)
    batch = t.tick()
    assert not batch.full_reload, batch.reason
    t.check()
