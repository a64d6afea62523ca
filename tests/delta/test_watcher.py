"""TableWatcher against real deltalake-written tables: every case of issue 2 / issue 7."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import socket

import polars as pl
import pytest
from deltalake import DeltaTable

from coptwin.delta import (
    DeltaLogError,
    DeltaStorageError,
    TableNotFoundError,
    TableWatcher,
)


def test_first_poll_is_full_load_then_nothing_new(table):
    table.write(range(0, 5))
    table.write(range(5, 8))
    w = TableWatcher(table.uri)
    assert w.applied_version is None
    batch = w.poll()
    assert batch is not None
    assert batch.full_reload and batch.reason == "first load"
    assert batch.from_version is None and batch.to_version == 1
    assert table.ids(batch.data) == list(range(8))
    assert batch.rows == 8
    assert batch.files_read == len(table.data_files())
    assert w.applied_version == 1
    assert w.poll() is None
    assert w.latest_version() == 1


def test_appends_read_only_new_rows_with_table_columns(table):
    table.write(range(0, 3))
    w = TableWatcher(table.uri)
    w.poll()
    before = set(table.data_files())
    table.write(range(3, 5))
    table.write(range(5, 6))
    assert w.latest_version() == 2
    batch = w.poll()
    assert not batch.full_reload
    assert (batch.from_version, batch.to_version) == (0, 2)
    assert table.ids(batch.data) == [3, 4, 5]
    assert batch.files_read == len(set(table.data_files()) - before)
    # Same columns, types and values as deltalake's own full read of those rows.
    full = pl.read_delta(table.uri).filter(pl.col("rid") >= 3).sort("rid")
    assert batch.data.schema == full.schema
    assert batch.data.sort("rid").equals(full)


def test_many_small_commits(table):
    table.write([0])
    w = TableWatcher(table.uri)
    w.poll()
    for i in range(1, 41):
        table.write([i])
    batch = w.poll()
    assert (batch.from_version, batch.to_version) == (0, 40)
    assert table.ids(batch.data) == list(range(1, 41))
    assert batch.files_read == 40
    # insertion order follows commit order
    assert batch.data["rid"].to_list() == list(range(1, 41))


def test_old_files_are_never_opened(table):
    """Deleting already-applied data files does not disturb the next poll."""
    table.write(range(0, 4))
    w = TableWatcher(table.uri)
    w.poll()
    table.write(range(4, 6))
    w.poll()
    for path in table.data_files():
        path.unlink()
    table.write(range(6, 9))
    batch = w.poll()
    assert not batch.full_reload
    assert table.ids(batch.data) == [6, 7, 8]


def test_optimize_compaction_is_not_new_data(table):
    for i in range(6):
        table.write([i])
    w = TableWatcher(table.uri)
    w.poll()
    metrics = table.dt().optimize.compact()
    assert metrics["numFilesRemoved"] > 0
    batch = w.poll()
    assert batch is not None and not batch.full_reload
    assert batch.rows == 0 and batch.files_read == 0
    assert batch.to_version == table.dt().version()
    table.write([100])
    assert table.ids(w.poll().data) == [100]


def test_append_then_compaction_before_poll_reads_appended_rows_once(table):
    table.write(range(0, 3))
    w = TableWatcher(table.uri)
    w.poll()
    table.write([3])
    table.write([4])
    table.dt().optimize.compact()
    batch = w.poll()
    assert not batch.full_reload
    assert batch.data["rid"].to_list() == [3, 4]


def test_zorder_rewrite_is_not_new_data(table):
    for i in range(4):
        table.write([i])
    w = TableWatcher(table.uri)
    w.poll()
    table.dt().optimize.z_order(["sensor_id"])
    batch = w.poll()
    assert batch.rows == 0 and not batch.full_reload


def test_overwrite_forces_full_reload(table):
    table.write(range(0, 5))
    w = TableWatcher(table.uri)
    w.poll()
    table.write(range(50, 53), mode="overwrite")
    batch = w.poll()
    assert batch.full_reload
    assert "Overwrite" in batch.reason
    assert batch.from_version == 0 and batch.to_version == 1
    assert table.ids(batch.data) == [50, 51, 52]
    table.write([60])
    assert table.ids(w.poll().data) == [60]


def test_restore_forces_full_reload(table):
    table.write(range(0, 3))
    table.write(range(3, 6))
    w = TableWatcher(table.uri)
    w.poll()
    table.dt().restore(0)
    batch = w.poll()
    assert batch.full_reload and "RESTORE" in batch.reason
    assert table.ids(batch.data) == [0, 1, 2]


def test_delete_with_deletion_vectors_enabled_forces_full_reload(table, caplog):
    table.write(range(0, 6), configuration={"delta.enableDeletionVectors": "true"})
    w = TableWatcher(table.uri)
    w.poll()
    table.dt().delete("rid = 2")
    with caplog.at_level(logging.INFO, logger="coptwin.delta"):
        batch = w.poll()
    assert batch.full_reload and "DELETE" in batch.reason
    assert table.ids(batch.data) == [0, 1, 3, 4, 5]
    assert any("full reload" in r.message for r in caplog.records)


def test_vacuumed_files_of_a_lagging_watcher_force_full_reload(table):
    table.write(range(0, 2))
    w = TableWatcher(table.uri)
    w.poll()
    table.write([2])
    table.write([3])
    dtab = table.dt()
    dtab.optimize.compact()
    removed = dtab.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    assert removed  # the files of versions 1 and 2 are gone
    batch = w.poll()
    assert batch.full_reload and "VACUUM" in batch.reason
    assert table.ids(batch.data) == [0, 1, 2, 3]


def test_expired_log_with_checkpoint_forces_full_reload(table):
    cfg = {"delta.logRetentionDuration": "interval 0 seconds"}
    table.write([0], configuration=cfg)
    w = TableWatcher(table.uri)
    w.poll()
    for i in range(1, 5):
        table.write([i])
    dtab = table.dt()
    dtab.create_checkpoint()
    dtab.cleanup_metadata()
    assert not (table.path / "_delta_log" / f"{1:020d}.json").exists()
    assert w.latest_version() == 4
    batch = w.poll()
    assert batch.full_reload and "log cleanup" in batch.reason
    assert table.ids(batch.data) == [0, 1, 2, 3, 4]
    # and a fresh watcher starts from the checkpoint
    fresh = TableWatcher(table.uri)
    assert fresh.latest_version() == 4
    assert table.ids(fresh.poll().data) == [0, 1, 2, 3, 4]
    table.write([5])
    assert table.ids(w.poll().data) == [5]


def test_checkpointed_table_reads_incrementally(table):
    for i in range(3):
        table.write([i])
    table.dt().create_checkpoint()
    w = TableWatcher(table.uri)
    assert w.latest_version() == 2
    assert table.ids(w.poll().data) == [0, 1, 2]
    table.write([3, 4])
    table.dt().create_checkpoint()
    table.write([5])
    batch = w.poll()
    assert not batch.full_reload
    assert table.ids(batch.data) == [3, 4, 5]


def test_schema_evolution_adds_columns(table):
    table.write(range(0, 3))
    w = TableWatcher(table.uri)
    w.poll()
    table.write([3], extra={"quality": "good"}, schema_mode="merge")
    table.write([4], schema_mode="merge")  # an older writer without the column
    batch = w.poll()
    assert not batch.full_reload
    assert "quality" in batch.data.columns
    got = dict(zip(batch.data["rid"].to_list(), batch.data["quality"].to_list(), strict=True))
    assert got == {3: "good", 4: None}
    assert batch.data.columns == list(pl.Schema(table.dt().schema()).names())
    table.write([5], extra={"quality": "bad"}, schema_mode="merge")
    assert w.poll().data["quality"].to_list() == ["bad"]


def test_typed_partition_columns(table):
    table.write(range(0, 2), partition_by=["date", "sensor_id"])
    w = TableWatcher(table.uri)
    w.poll()
    table.write(range(30, 33), partition_by=["date", "sensor_id"])
    batch = w.poll()
    assert batch.data.schema["date"] == pl.Date
    expected = table.rows(range(30, 33))
    assert batch.data.sort("rid").select(expected.columns).equals(expected)


def test_int_and_timestamp_partitions(tmp_path):
    from deltalake import write_deltalake

    uri = str(tmp_path / "t")
    ts = dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc)

    def frame(i: int) -> pl.DataFrame:
        return pl.DataFrame(
            {"rid": [i], "bucket": pl.Series([i % 2], dtype=pl.Int32), "hour": [ts], "ok": [True]},
            schema_overrides={"hour": pl.Datetime("us", "UTC")},
        )

    parts = ["bucket", "hour", "ok"]
    write_deltalake(uri, frame(0), partition_by=parts)
    w = TableWatcher(uri)
    w.poll()
    write_deltalake(uri, frame(1), mode="append", partition_by=parts)
    batch = w.poll()
    assert batch.data.select(frame(1).columns).equals(frame(1))


def test_malformed_commit_is_a_clear_error_and_keeps_the_version(table):
    table.write(range(0, 2))
    w = TableWatcher(table.uri)
    w.poll()
    table.write([2])
    commit = table.path / "_delta_log" / f"{1:020d}.json"
    good = commit.read_bytes()
    commit.write_bytes(good[: len(good) // 2])
    with pytest.raises(DeltaLogError) as err:
        w.poll()
    assert table.uri in str(err.value) and "commit 1" in str(err.value)
    assert err.value.version == 1
    assert w.applied_version == 0
    commit.write_bytes(b"")
    with pytest.raises(DeltaLogError, match="empty"):
        w.poll()
    commit.write_bytes(good)
    assert table.ids(w.poll().data) == [2]


def test_missing_table(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for uri in (str(empty), str(tmp_path / "absent")):
        w = TableWatcher(uri)
        assert w.latest_version() is None
        with pytest.raises(TableNotFoundError) as err:
            w.poll()
        assert uri in str(err.value)
        with pytest.raises(TableNotFoundError):
            w.snapshot()


def test_table_created_after_watcher(table):
    w = TableWatcher(table.uri)
    assert w.latest_version() is None
    table.write([1])
    assert table.ids(w.poll().data) == [1]


def test_recreated_table_with_lower_version_reloads(table):
    for i in range(3):
        table.write([i])
    w = TableWatcher(table.uri)
    w.poll()
    shutil.rmtree(table.path)
    table.write([10])
    assert w.latest_version() == 0
    batch = w.poll()
    assert batch.full_reload and "recreated" in batch.reason
    assert table.ids(batch.data) == [10]


def test_snapshot_time_travel_by_version_and_timestamp(table):
    table.write(range(0, 2))
    table.write(range(2, 4))
    table.write(range(4, 6))
    w = TableWatcher(table.uri)
    w.poll()
    v1 = w.snapshot(version=1)
    assert v1.full_reload and v1.to_version == 1 and v1.from_version is None
    assert table.ids(v1.data) == [0, 1, 2, 3]
    # commit timestamps are in milliseconds; pick the instant of version 1
    history = {h["version"]: h["timestamp"] for h in table.dt().history()}
    at = dt.datetime.fromtimestamp(history[1] / 1000, tz=dt.timezone.utc)
    by_ts = w.snapshot(timestamp=at)
    assert by_ts.to_version == 1 and table.ids(by_ts.data) == [0, 1, 2, 3]
    assert table.ids(w.snapshot().data) == list(range(6))
    assert w.applied_version == 2  # a snapshot does not move the watcher
    naive = w.snapshot(timestamp=at.replace(tzinfo=None))  # naive means UTC
    assert naive.to_version == 1
    with pytest.raises(DeltaStorageError):
        w.snapshot(version=99)


def test_reset_makes_next_poll_a_full_load(table):
    table.write(range(0, 3))
    w = TableWatcher(table.uri)
    w.poll()
    w.reset()
    assert w.applied_version is None
    batch = w.poll()
    assert batch.full_reload and table.ids(batch.data) == [0, 1, 2]


def test_columns_projection(table):
    table.write(range(0, 2))
    w = TableWatcher(table.uri, columns=["rid", "date", "nope"])
    assert w.poll().data.columns == ["rid", "date"]
    table.write([2])
    batch = w.poll()
    assert batch.data.columns == ["rid", "date"]
    assert batch.data.row(0) == table.rows([2]).select("rid", "date").row(0)


def test_increments_add_up_to_the_table(table):
    """Applying every batch in order reproduces deltalake's own read of the table."""
    w = TableWatcher(table.uri)
    state = pl.DataFrame()
    table.write(range(0, 4))
    steps = [
        lambda: table.write(range(4, 6)),
        lambda: table.dt().optimize.compact(),
        lambda: table.write(range(6, 9), extra={"quality": "q"}, schema_mode="merge"),
        lambda: table.dt().create_checkpoint(),
        lambda: table.write(range(9, 10), schema_mode="merge"),
        lambda: table.dt().delete("rid = 5"),
        lambda: table.write(range(10, 12), schema_mode="merge"),
    ]
    for step in [lambda: None, *steps]:
        step()
        batch = w.poll()
        if batch is None:
            continue
        state = batch.data if batch.full_reload else pl.concat([state, batch.data], how="diagonal")
    expected = pl.read_delta(table.uri).sort("rid")
    assert state.sort("rid").equals(expected)
    assert w.applied_version == table.dt().version()


def test_unreachable_storage_error_has_no_credentials():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    secret, key = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYSECRET", "AKIAIOSFODNN7EXAMPLE"
    w = TableWatcher(
        "s3://bucket/readings",
        {
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ALLOW_HTTP": "true",
            "AWS_REGION": "us-east-1",
        },
    )
    with pytest.raises(DeltaStorageError) as err:
        w.poll()
    text = str(err.value) + repr(err.value) + repr(w)
    assert "s3://bucket/readings" in str(err.value)
    assert secret not in text and key not in text
    assert err.value.__cause__ is None  # the raw exception (and its text) is not chained


def test_thread_safe_polls_apply_each_row_once(table):
    from concurrent.futures import ThreadPoolExecutor

    table.write([0])
    w = TableWatcher(table.uri)
    w.poll()
    for i in range(1, 6):
        table.write([i])
    with ThreadPoolExecutor(4) as pool:
        batches = [b for b in pool.map(lambda _: w.poll(), range(4)) if b is not None]
    got = sorted(r for b in batches for r in b.data["rid"].to_list())
    assert got == [1, 2, 3, 4, 5]


@pytest.mark.skipif(os.name != "posix", reason="relies on file permissions")
def test_unreadable_commit_is_reported(table):
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root can read anything")
    table.write([0])
    w = TableWatcher(table.uri)
    w.poll()
    table.write([1])
    commit = table.path / "_delta_log" / f"{1:020d}.json"
    commit.chmod(0)
    try:
        with pytest.raises(DeltaStorageError):
            w.poll()
        assert w.applied_version == 0
    finally:
        commit.chmod(0o644)


def test_deltatable_agrees_on_latest_version(table):
    for i in range(3):
        table.write([i])
    assert TableWatcher(table.uri).latest_version() == DeltaTable(table.uri).version()


@pytest.mark.s3
def test_s3_round_trip_with_coptwin_storage_options(s3_server, table):
    """Same watcher on SeaweedFS S3 with the options coptwin.storage builds from a config."""
    from deltalake import write_deltalake

    from coptwin.config import StorageConfig
    from coptwin.storage import Credentials, delta_storage_options

    bucket = s3_server.new_bucket("delta-watch")
    cfg = StorageConfig(
        uri=f"s3://{bucket}/cop",
        endpoint=s3_server.endpoint,
        region=s3_server.region,
        allow_http=True,
    )
    opts = delta_storage_options(
        cfg, Credentials(s3_server.access_key, s3_server.secret_key, None, "test")
    )
    uri = f"s3://{bucket}/cop/readings"

    def write(ids, mode="append"):
        frame = table.rows(ids)
        write_deltalake(uri, frame, mode=mode, partition_by=["date"], storage_options=opts)

    w = TableWatcher(uri, opts)
    assert w.latest_version() is None
    write(range(0, 30))
    first = w.poll()
    assert first.full_reload and table.ids(first.data) == list(range(30))
    write(range(30, 33))
    write([33])
    batch = w.poll()
    assert not batch.full_reload and table.ids(batch.data) == [30, 31, 32, 33]
    assert batch.data.schema == first.data.schema
    DeltaTable(uri, storage_options=opts).optimize.compact()
    assert w.poll().rows == 0
    write([90, 91], mode="overwrite")
    reload = w.poll()
    assert reload.full_reload and table.ids(reload.data) == [90, 91]
    assert table.ids(w.snapshot(version=1).data) == list(range(33))


def test_prefetched_poll_is_the_next_poll(table):
    table.write(range(0, 3))
    w = TableWatcher(table.uri)
    w.prefetch()
    w.prefetch()  # one pending prefetch at a time
    table.write([3])  # committed before the poll: in its batch, prefetched or not
    first = w.poll()
    assert first is not None and first.full_reload and first.reason == "first load"
    assert sorted(table.ids(first.data)) == [0, 1, 2, 3] and first.to_version == 1
    assert w.applied_version == 1
    assert w.poll() is None
    w.prefetch()
    assert w.poll() is None  # nothing new, prefetched or not


def test_a_failed_prefetch_is_retried_and_reset_drops_the_prefetch(table, tmp_path):
    w = TableWatcher(str(tmp_path / "absent"))
    w.prefetch()
    with pytest.raises(TableNotFoundError):
        w.poll()
    w = TableWatcher(table.uri)
    w.prefetch()  # no table yet: this prefetch fails ...
    table.write([7])
    assert table.ids(w.poll().data) == [7]  # ... and the poll tries again
    table.write(range(0, 2))
    w = TableWatcher(table.uri)
    w.prefetch()
    w.reset()  # waits for the prefetched load, then forgets it
    assert w.applied_version is None
    batch = w.poll()
    assert batch is not None and batch.full_reload and sorted(table.ids(batch.data)) == [0, 1, 7]
