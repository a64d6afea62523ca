"""Compaction planning: only finished date partitions with something to gain."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from coptwin.maintenance.plan import DEFAULT_TARGET_SIZE, parse_partition_date, plan_compaction

TODAY = dt.date(2026, 3, 10)


def _write(uri: str, day: str | None, n: int, **kwargs) -> None:
    for i in range(n):
        write_deltalake(
            uri,
            pl.DataFrame({"rid": [i], "date": [day]}, schema={"rid": pl.Int64, "date": pl.String}),
            mode="append",
            partition_by=["date"],
            **kwargs,
        )


def test_only_partitions_before_the_cutoff_with_two_small_files_are_planned(tmp_path):
    uri = str(tmp_path / "t")
    _write(uri, "2026-03-07", 3)
    _write(uri, "2026-03-08", 1)  # one file: nothing to gain
    _write(uri, "2026-03-09", 2)  # yesterday: finished
    _write(uri, "2026-03-10", 4)  # today: sensors write here
    _write(uri, "2026-03-11", 2)  # tomorrow (clock skew): also live
    plan = plan_compaction(DeltaTable(uri), "date", today=TODAY)
    assert [(p.value, p.files, p.small_files) for p in plan.partitions] == [
        ("2026-03-07", 3, 3),
        ("2026-03-09", 2, 2),
    ]
    assert plan.skipped == {"nothing to gain": 1, "current or too recent": 2}
    assert plan.files == 5 and plan.cutoff == dt.date(2026, 3, 9)
    assert plan.target_size == DEFAULT_TARGET_SIZE


def test_older_than_days_moves_the_cutoff_and_must_spare_today(tmp_path):
    uri = str(tmp_path / "t")
    _write(uri, "2026-03-07", 2)
    _write(uri, "2026-03-09", 2)
    plan = plan_compaction(DeltaTable(uri), "date", today=TODAY, older_than_days=2)
    assert [p.value for p in plan.partitions] == ["2026-03-07"]
    with pytest.raises(ValueError, match="today's partition"):
        plan_compaction(DeltaTable(uri), "date", today=TODAY, older_than_days=0)


def test_files_at_the_target_size_do_not_count(tmp_path):
    uri = str(tmp_path / "t")
    _write(uri, "2026-03-01", 3)
    size = DeltaTable(uri).get_add_actions(flatten=True).column("size_bytes").to_pylist()[0]
    plan = plan_compaction(DeltaTable(uri), "date", today=TODAY, target_size=size)
    assert plan.partitions == [] and plan.skipped == {"nothing to gain": 1}


def test_table_property_sets_the_target_size(tmp_path):
    uri = str(tmp_path / "t")
    _write(uri, "2026-03-01", 2, configuration={"delta.targetFileSize": "1048576"})
    assert plan_compaction(DeltaTable(uri), "date", today=TODAY).target_size == 1_048_576


def test_null_and_non_date_partition_values_are_counted_skips(tmp_path):
    uri = str(tmp_path / "t")
    _write(uri, None, 2)
    _write(uri, "north", 2)
    _write(uri, "2026-03-01", 2)
    plan = plan_compaction(DeltaTable(uri), "date", today=TODAY)
    assert [p.value for p in plan.partitions] == ["2026-03-01"]
    assert plan.skipped == {"null partition value": 1, "partition value is not a date": 1}


def test_unpartitioned_or_differently_partitioned_tables_are_not_compacted(tmp_path):
    uri = str(tmp_path / "t")
    write_deltalake(uri, pl.DataFrame({"rid": [1], "site": ["a"]}), partition_by=["site"])
    plan = plan_compaction(DeltaTable(uri), "date", today=TODAY)
    assert plan.partitions == [] and plan.partition_column is None
    assert "not partitioned by 'date' (partitions: site)" in plan.disabled


def test_parse_partition_date():
    assert parse_partition_date("2026-03-01") == dt.date(2026, 3, 1)
    assert parse_partition_date("2026-03-01 00:00:00") == dt.date(2026, 3, 1)
    assert parse_partition_date("2026-03-01T12:00:00Z") == dt.date(2026, 3, 1)
    assert parse_partition_date("20260301") == dt.date(2026, 3, 1)
    assert parse_partition_date("2026-02-30") is None
    assert parse_partition_date("2026-03-011") is None
    assert parse_partition_date("north") is None
    assert parse_partition_date("") is None
