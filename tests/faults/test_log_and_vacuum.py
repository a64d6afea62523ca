"""The table's log under the engine: a garbage ``_delta_log`` JSON, and VACUUM.

A commit file that is not JSON is a corrupt table (every Delta reader refuses it): the
engine keeps the version it applied, says which commit is malformed on the status
line, never crashes and reads nothing wrong; once the commit file holds a valid
commit again (the writer's retry, an operator's repair) its rows and every later
commit are applied.  Stray files in ``_delta_log/`` that are not commits are ignored.

VACUUM deleting data files the engine has not read yet (OPTIMIZE then VACUUM with no
retention) turns the next read into a full reload at the new version: every row is
read again from the compacted files, nothing lost.
"""

from __future__ import annotations

import obstore
import pytest
from deltalake import DeltaTable

from coptwin.delta import DeltaLogError
from tests.support.wait import wait_until


def test_a_garbage_commit_keeps_the_version_and_applies_once_repaired(fault_table):
    t = fault_table
    t.append(10)
    t.tick()
    applied = t.reader.watcher.applied_version
    store = t.store()
    garbage = b'{"add": {"path": garba'
    obstore.put(store, f"_delta_log/{applied + 1:020d}.json", garbage, mode="create")
    for _ in range(3):  # every poll: a clear error, the applied version kept
        with pytest.raises(DeltaLogError) as err:
            t.tick()
        assert err.value.version == applied + 1 and "malformed JSON" in str(err.value)
        assert t.reader.watcher.applied_version == applied
    assert t.counts.read == 10
    # The writer retries: the same version, now a valid commit of 7 rows.
    frame = t.rows(7)
    t.add_file(frame, version=applied + 1)
    t.check()


def test_stray_files_in_the_log_are_ignored(fault_table):
    t = fault_table
    t.append(6)
    t.tick()
    store = t.store()
    obstore.put(store, "_delta_log/garbage.json", b"{not json")
    obstore.put(store, "_delta_log/00000000000000000009.json.tmp", b"{half a comm")
    obstore.put(store, "_delta_log/.00000000000000000001.json.crc", b"\x00\x01")
    t.append(4)
    t.check()


def test_the_engine_says_which_commit_is_malformed_and_recovers(engine_table):
    """The live engine: status "disconnected" naming commit and problem, retries, and the
    repaired commit applies without a restart."""
    t = engine_table
    t.append(8)
    reader = t.reader
    reader.start()
    engine = reader.engine
    wait_until(lambda: t.counts.read == 8, timeout=30, what="the first 8 rows")
    applied = engine.watchers["readings"].applied_version
    obstore.put(t.store(), f"_delta_log/{applied + 1:020d}.json", b"\x00garbage", mode="create")
    engine.request_check("readings")
    wait_until(
        lambda: engine.connection == "disconnected" and "malformed JSON" in engine.reason,
        timeout=30,
        what="the status naming the malformed commit",
    )
    assert f"commit {applied + 1}" in engine.reason
    t.add_file(t.rows(5), version=applied + 1)
    engine.request_check("readings")
    wait_until(lambda: t.counts.read == 13, timeout=60, what="the repaired commit applied")
    assert engine.connection == "connected"
    reader.stop()
    t.check()


def _vacuum(t) -> None:
    """OPTIMIZE (compaction) then VACUUM with no retention: the old files are gone."""
    table = DeltaTable(t.uri, storage_options=t.storage_options or None)
    table.optimize.compact()
    table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)


def test_vacuum_of_files_the_engine_has_not_read_is_a_full_reload(engine_table):
    t = engine_table
    for n in (6, 5, 4):
        t.append(n)
    t.tick()
    t.append(7)  # not read yet; its file is compacted away and vacuumed below
    t.append(3)
    _vacuum(t)
    polled = t.tick()
    assert polled is not None and polled.full_reload, polled
    assert "gone" in polled.reason or "removed" in polled.reason, polled.reason
    assert t.counts.read == 25
    t.check()


def test_vacuum_after_everything_was_read_changes_nothing(fault_table):
    t = fault_table
    for n in (6, 5, 4):
        t.append(n)
    t.tick()
    _vacuum(t)
    batch = t.tick()  # the compaction commit: no data change
    assert batch is None or (batch.rows == 0 and not batch.full_reload)
    assert t.counts.read == 15
    t.check()
