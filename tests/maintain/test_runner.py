"""One maintenance pass on real tables: beside writers, dry run, readers and time travel."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from pathlib import Path

import polars as pl
from deltalake import write_deltalake

from coptwin.delta import TableWatcher
from coptwin.maintenance import MaintenanceOptions, maintain_table
from coptwin.maintenance.lease import LEASE_PATH, MaintenanceLease
from coptwin.storage import object_store
from tests.support.wait import wait_until


def _yesterday(readings) -> str:
    return (readings.today - dt.timedelta(days=1)).isoformat()


def _assert_exactly_once(readings) -> None:
    in_table = Counter(readings.keys())
    committed = Counter(readings.committed)
    assert sum(committed.values()) == len(committed), "test keys must be unique"
    assert in_table == committed  # same set of rows, and each exactly once


def test_maintenance_beside_a_writer_loses_nothing_and_spares_todays_partition(
    readings, writer_factory
):
    writer = writer_factory(readings)
    # bounded: a writer that dies (or never commits) fails the test instead of hanging it
    wait_until(lambda: writer.commits >= 3 or not writer.is_alive(), 60, what="3 writer commits")
    assert writer.error is None and writer.commits >= 3, writer.error
    today = readings.today.isoformat()
    todays_files = readings.files(today)
    before = writer.commits
    report = maintain_table(readings.uri)
    during = writer.commits - before
    second = maintain_table(readings.uri)  # again, with late rows in yesterday's partition
    writer.finish()

    assert report.ok and second.ok, (report.errors, second.errors)
    assert during > 0, "the writer must have committed while maintenance ran"
    compacted = {r.value for r in report.compacted}
    assert len(compacted) == 4 and today not in compacted
    assert all(r.files_removed >= 2 and r.files_added == 1 for r in report.compacted)
    assert report.compaction_skipped.get("current or too recent") == 1
    assert report.checkpoint_version is not None
    # today's files are never rewritten: all of them are still live
    assert todays_files <= readings.files(today)
    ops = readings.operations()
    writes_between = [
        v for v, op in ops if op == "WRITE" and report.version_before < v <= report.version_after
    ]
    assert writes_between, "writer commits interleave with maintenance commits"
    _assert_exactly_once(readings)


def test_dry_run_changes_nothing_and_reports_the_plan(readings, tmp_path):
    version = readings.version()
    on_disk = sorted(p.relative_to(tmp_path) for p in Path(readings.uri).rglob("*"))
    report = maintain_table(
        readings.uri,
        options=MaintenanceOptions(dry_run=True, retention_hours=0, allow_short_retention=True),
    )
    assert report.ok and report.dry_run
    assert readings.version() == version == report.version_after
    assert sorted(p.relative_to(tmp_path) for p in Path(readings.uri).rglob("*")) == on_disk
    assert [p["value"] for p in report.to_compact] == [
        (readings.today - dt.timedelta(days=d)).isoformat() for d in (4, 3, 2, 1)
    ]
    assert all(p["small_files"] == 4 for p in report.to_compact)
    assert report.compacted == [] and report.checkpoint_version == version


def test_dry_run_lists_the_files_vacuum_would_delete(readings):
    maintain_table(readings.uri)  # compaction leaves 16 removed files behind
    version = readings.version()
    files = len(list(Path(readings.uri).rglob("*.parquet")))
    report = maintain_table(
        readings.uri,
        options=MaintenanceOptions(dry_run=True, retention_hours=0, allow_short_retention=True),
    )
    assert report.vacuum_files == 16 and len(report.vacuum_sample) == 16
    assert all(s.endswith(".parquet") for s in report.vacuum_sample)
    assert readings.version() == version
    assert len(list(Path(readings.uri).rglob("*.parquet"))) == files


def test_a_watcher_reads_nothing_from_maintenance_commits_and_then_reads_appends(readings):
    watcher = TableWatcher(readings.uri)
    first = watcher.poll()
    assert first.rows == len(readings.committed)
    report = maintain_table(readings.uri)
    assert report.version_after > report.version_before
    batch = watcher.poll()
    assert batch is not None and not batch.full_reload
    assert batch.rows == 0 and batch.files_read == 0
    frame = readings.append(dt.datetime.combine(readings.today, dt.time(1), dt.timezone.utc))
    batch = watcher.poll()
    assert not batch.full_reload and batch.rows == frame.height
    assert sorted(batch.data["sensor_id"].to_list()) == sorted(frame["sensor_id"].to_list())


def test_time_travel_before_compaction_works_within_retention(readings):
    before = readings.version()
    expected = Counter(readings.keys())
    report = maintain_table(readings.uri)  # compaction + VACUUM with the default 7 days
    assert report.ok and report.retention_hours == 168 and report.vacuum_files == 0
    snap = TableWatcher(readings.uri).snapshot(version=before)
    assert Counter(snap.data.select("sensor_id", "ts").rows()) == expected


def test_short_retention_vacuum_deletes_removed_files_and_keeps_the_data(readings):
    maintain_table(readings.uri)
    files = len(list(Path(readings.uri).rglob("*.parquet")))
    report = maintain_table(
        readings.uri, options=MaintenanceOptions(retention_hours=0, allow_short_retention=True)
    )
    assert report.ok and report.vacuum_files == 16
    assert len(list(Path(readings.uri).rglob("*.parquet"))) == files - 16
    _assert_exactly_once(readings)


def test_retention_below_seven_days_is_refused(readings):
    version = readings.version()
    report = maintain_table(readings.uri, options=MaintenanceOptions(retention_hours=24))
    assert not report.ok and "below 168 h" in report.errors[0]
    assert readings.version() == version


def test_log_cleanup_removes_expired_commit_files_after_the_checkpoint(tmp_path):
    uri = str(tmp_path / "t")
    cfg = {"delta.logRetentionDuration": "interval 0 seconds"}
    day = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    for i in range(6):
        write_deltalake(
            uri,
            pl.DataFrame({"rid": [i], "date": [day]}),
            mode="append",
            partition_by=["date"],
            configuration=cfg if i == 0 else None,
        )
    dry = maintain_table(uri, options=MaintenanceOptions(dry_run=True, compact=False))
    assert dry.log_files_removed == 5  # versions 0..4 are covered by a checkpoint at 5
    report = maintain_table(uri, options=MaintenanceOptions(compact=False))
    assert report.ok and report.log_files_removed == 5
    assert not (Path(uri) / "_delta_log" / f"{0:020d}.json").exists()
    assert sorted(pl.read_delta(uri)["rid"].to_list()) == list(range(6))
    assert any(n.startswith("delta.logRetentionDuration") for n in report.notes)


def test_date_typed_partitions_are_compacted(tmp_path):
    uri = str(tmp_path / "t")
    old = dt.date.today() - dt.timedelta(days=2)
    for i in range(5):
        write_deltalake(
            uri, pl.DataFrame({"rid": [i], "date": [old]}), mode="append", partition_by=["date"]
        )
    report = maintain_table(uri)
    assert report.ok and [(r.value, r.files_removed) for r in report.compacted] == [
        (old.isoformat(), 5)
    ]
    assert sorted(pl.read_delta(uri)["rid"].to_list()) == list(range(5))


def test_a_table_not_partitioned_by_date_is_not_compacted(tmp_path):
    uri = str(tmp_path / "t")
    for i in range(3):
        write_deltalake(uri, pl.DataFrame({"rid": [i]}), mode="append")
    report = maintain_table(uri)
    assert report.ok and report.compacted == []
    assert "not partitioned by 'date'" in report.compaction_disabled
    assert report.checkpoint_version == 2


def test_missing_table_is_skipped_with_a_reason(tmp_path):
    report = maintain_table(str(tmp_path / "nothing"))
    assert report.ok and "no Delta table" in report.skipped


def test_a_held_lease_stops_a_second_pass(readings):
    version = readings.version()
    with MaintenanceLease(object_store(readings.uri)):
        report = maintain_table(readings.uri)
    assert not report.ok and "holds the lease" in report.skipped
    assert readings.version() == version
    assert not (Path(readings.uri) / LEASE_PATH).exists()
    assert maintain_table(readings.uri).ok


def test_two_passes_at_once_never_duplicate_rows(readings):
    barrier = threading.Barrier(2)
    reports = []

    def run() -> None:
        barrier.wait()
        reports.append(maintain_table(readings.uri))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    compactions = [op for _v, op in readings.operations() if op == "OPTIMIZE"]
    assert len(compactions) == 4  # each finished partition compacted once, by one pass
    busy = [r for r in reports if "holds the lease" in r.skipped]
    assert len(busy) + sum(1 for r in reports if r.compacted) == 2
    _assert_exactly_once(readings)


def test_why_the_lease_exists_delta_rs_commits_two_compactions_of_the_same_files(readings):
    """Two compactions from one snapshot both commit and every row is then there twice.

    When this starts failing, delta-rs detects the conflict itself again and the
    lease is a second line of defence rather than the only one.
    """
    a, b = readings.dt(), readings.dt()
    a.optimize.compact()
    b.optimize.compact()
    assert len(readings.keys()) == 2 * len(readings.committed)


def test_engine_sees_no_change_from_maintenance_and_reads_the_next_append(tmp_path):
    from coptwin.config import config_from_dict
    from coptwin.engine.engine import Engine
    from coptwin.scene.citygen import generate_city
    from coptwin.scene.citylayout import CityParams, make_layout
    from coptwin.sim.readings import ReadingSimulator
    from coptwin.sim.sensors import demo_sensors
    from coptwin.sim.writer import append_batch

    info = generate_city(tmp_path / "city", blocks_x=1, blocks_y=1)
    sensors = demo_sensors(make_layout(CityParams(blocks_x=1, blocks_y=1)))
    tables = tmp_path / "tables"
    append_batch(str(tables / "sensors"), sensors, mode="overwrite")
    sim = ReadingSimulator(sensors, seed=1, fraction=0.5)
    today = dt.datetime.now(dt.timezone.utc).date()

    def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute), dt.timezone.utc)

    for d in (3, 2, 1):
        for k in range(3):
            frame = sim.batch(at(today - dt.timedelta(days=d), 10, k))
            append_batch(str(tables / "readings"), frame, partition_by=["date"])
    cfg = config_from_dict(
        {
            "storage": {"uri": str(tables)},
            "tables": {"readings": {"path": "readings"}, "sensors": {"path": "sensors"}},
            "scene": {
                "path": str(info.root_layer),
                "crs": info.crs,
                "global_offset": list(info.global_offset),
            },
            "engine": {"max_future_skew_s": 1e9},
        }
    )
    engine = Engine(cfg, clock=lambda: at(today, 12))
    engine.open()
    first = engine.tick()
    assert first.rows_read > 0 and first.changed == sensors.height
    overlay_before = engine.overlay.layer.ExportToString()
    statuses = {r.sensor_id: r.status for r in engine.snapshot().sensors}

    report = maintain_table(cfg.table_uri("readings"))
    assert report.ok and len(report.compacted) == 3

    after = engine.tick()
    assert after.versions["readings"] == report.version_after
    assert after.rows_read == 0 and after.changed == 0 and not after.full_reload
    assert engine.overlay.layer.ExportToString() == overlay_before  # no flicker
    assert {r.sensor_id: r.status for r in engine.snapshot().sensors} == statuses

    frame = sim.batch(at(today, 11))
    append_batch(cfg.table_uri("readings"), frame, partition_by=["date"])
    nxt = engine.tick()
    assert nxt.rows_read == frame.height and not nxt.full_reload
    assert nxt.changed == frame["sensor_id"].n_unique()
    engine.close()
