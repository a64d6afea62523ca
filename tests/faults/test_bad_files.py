"""Issue 12, item 2: one bad data file never stalls its table.

A file that cannot be decoded is quarantined (counted, named in the log and on
the batch, skipped); values that do not convert to the table's type become
nulls (NaN for numbers) and are counted; every other row and every later
commit is applied, and a cold start on such a table does not crash.
"""

from __future__ import annotations

import io
import logging

import polars as pl


def _parquet(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.drop("date").write_parquet(buf)
    return buf.getvalue()


def test_corrupt_parquet_file_is_quarantined_and_later_commits_apply(fault_table, caplog):
    t = fault_table
    t.append(10)
    t.tick()
    bad = t.add_file(b"PAR1 this is not parquet at all PAR1", rows=4, unreadable=True)
    t.append(6)
    with caplog.at_level(logging.WARNING, logger="coptwin.delta"):
        batch = t.tick()
    assert batch is not None and not batch.full_reload
    assert batch.quarantined == (bad,)
    assert batch.rows == 6
    assert any(bad in r.getMessage() and "quarantine" in r.getMessage() for r in caplog.records)
    assert "parquet" in t.reader.watcher.quarantined[bad].lower()  # path -> why
    t.check()


def test_truncated_parquet_file_in_the_middle_of_a_commit_range(fault_table):
    t = fault_table
    t.append(5)
    t.tick()
    t.append(3)
    good = _parquet(t.rows(7))
    t.add_file(good[: len(good) // 2], rows=7, unreadable=True)
    t.append(4)
    t.check()


def test_string_values_are_converted_and_bad_ones_counted(fault_table):
    """A writer that stored ``value`` as text: numbers still read, the rest counted as bad."""
    t = fault_table
    t.append(4)
    t.tick()
    t.add_text_values()
    batch = t.tick()
    assert batch.quarantined == ()
    assert batch.rows == 5
    assert batch.uncast == {"value": 2}  # "n/a" and ""
    values = batch.data["value"].to_list()
    assert values[:2] == [21.5, 22.0] and values[4] == 10.0
    assert t.counts.skipped == {"bad_value": 2}
    t.check()


def test_string_timestamps_are_parsed_and_bad_ones_counted(fault_table):
    t = fault_table
    t.append(4)
    t.tick()
    frame = t.rows(3)
    stamps = frame["ts"].to_list()
    iso = [ts.isoformat() for ts in stamps]
    frame = frame.with_columns(
        pl.Series("ts", [iso[0], iso[1].replace("+00:00", "Z"), "yesterday"])
    )
    t.add_file(frame)
    batch = t.tick()
    assert batch.quarantined == () and batch.uncast == {"ts": 1}
    assert batch.data["ts"].to_list() == [stamps[0], stamps[1], None]
    assert t.counts.skipped == {"null_ts": 1}
    t.check()


def test_a_value_column_of_a_non_numeric_type_counts_every_value_as_bad(fault_table):
    t = fault_table
    t.append(3)
    t.tick()
    t.add_file(t.rows(4).with_columns(pl.Series("value", [[1.0], [2.0], [], None])))
    batch = t.tick()
    assert batch.quarantined == () and batch.uncast == {"value": 3}
    assert t.counts.skipped == {"bad_value": 3}  # the null value is a valid pure event
    t.check()


def test_a_column_that_cannot_convert_at_all_quarantines_its_file(fault_table):
    t = fault_table
    t.append(3)
    t.tick()
    frame = t.rows(4).with_columns(pl.Series("sensor_id", [["s1"], ["s2"], [], None]))
    path = t.add_file(frame, unreadable=True)
    t.append(2)
    batch = t.tick()
    assert batch.quarantined == (path,) and batch.quarantined_rows == 4
    assert "List" in t.reader.watcher.quarantined[path]
    t.check()


def test_cold_start_on_a_table_with_bad_files_does_not_crash(fault_table):
    t = fault_table
    t.append(6)
    bad = t.add_file(b"garbage", rows=3, unreadable=True)
    t.add_file(t.rows(4).with_columns(pl.col("value").cast(pl.String)))
    t.append(5)
    batch = t.tick()  # the first read is a full load
    assert batch.full_reload and batch.quarantined == (bad,)
    assert batch.rows == 15
    t.check()


def test_cold_start_with_a_narrowing_full_load(fault_table):
    """The engine narrows cold starts lazily (newest row per sensor); bad files still only skip."""
    t = fault_table
    t.append(16)
    bad = t.add_file(b"garbage", rows=3, unreadable=True)
    t.add_file(t.rows(8).with_columns(pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%S%z")))

    def newest(lazy: pl.LazyFrame) -> pl.LazyFrame:
        rank = pl.col("ts").rank("ordinal", descending=True).over("sensor_id")
        return lazy.filter(rank <= 1)

    from coptwin.delta import TableWatcher

    batch = TableWatcher(t.uri, t.storage_options, full_load=newest).poll()
    assert batch.full_reload and batch.quarantined == (bad,)
    assert batch.data["sensor_id"].n_unique() == batch.rows == 8
