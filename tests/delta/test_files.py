"""Reading individual added files and aligning them to the table schema."""

from __future__ import annotations

import math

import polars as pl
import pytest
from obstore.store import LocalStore

from coptwin.delta.files import AbsolutePathError, align, read_added_files
from coptwin.delta.log import AddFile


def test_align_orders_casts_and_fills_missing_columns():
    schema = pl.Schema({"a": pl.Int64(), "b": pl.String(), "c": pl.Float64()})
    frame = pl.DataFrame({"c": [1.5], "a": pl.Series([3], dtype=pl.Int32), "zz": [0]})
    out, uncast = align(frame, schema)
    assert out.schema == schema and uncast == {}
    assert out.rows() == [(3, None, 1.5)]
    assert align(frame, schema, ["c", "a"])[0].columns == ["a", "c"]
    empty, _ = align(pl.DataFrame(), schema)
    assert empty.height == 0 and empty.schema == schema


def test_align_converts_leniently_and_counts_what_did_not_convert():
    schema = pl.Schema({"v": pl.Float64(), "t": pl.Datetime("us", "UTC"), "n": pl.Int64()})
    frame = pl.DataFrame(
        {
            "v": ["1.5", "x", None],
            "t": ["2024-05-01T10:00:00Z", "2024-05-01 12:00:00", "soon"],
            "n": ["7", "seven", "8"],
        }
    )
    out, uncast = align(frame, schema)
    assert out.schema == schema
    assert out["v"][0] == 1.5 and math.isnan(out["v"][1]) and out["v"][2] is None
    assert [t.hour if t else None for t in out["t"]] == [10, 12, None]
    assert out["n"].to_list() == [7, None, 8]
    assert uncast == {"v": 1, "t": 1, "n": 1}
    with pytest.raises(pl.exceptions.InvalidOperationError):
        align(pl.DataFrame({"n": [[1]]}), schema)


def test_read_added_files_adds_partition_values(tmp_path):
    (tmp_path / "day=1").mkdir()
    pl.DataFrame({"v": [1.0, 2.0]}).write_parquet(tmp_path / "day=1" / "a b.parquet")
    pl.DataFrame({"v": [3.0], "extra": ["x"]}).write_parquet(tmp_path / "c.parquet")
    schema = pl.Schema({"v": pl.Float64(), "extra": pl.String(), "day": pl.Int32()})
    adds = [
        AddFile("day=1/a%20b.parquet", {"day": "1"}, True),  # paths in the log are URI-encoded
        AddFile("c.parquet", {"day": None}, True),
    ]
    got = read_added_files(LocalStore(str(tmp_path)), adds, schema, ["day"])
    assert got.data.schema == schema and got.quarantined == {}
    assert got.data.rows() == [(1.0, None, 1), (2.0, None, 1), (3.0, "x", None)]
    assert read_added_files(LocalStore(str(tmp_path)), [], schema, ["day"]).data.height == 0


def test_unreadable_files_are_quarantined_with_a_reason(tmp_path):
    pl.DataFrame({"v": [1.0]}).write_parquet(tmp_path / "good.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not parquet")
    (tmp_path / "day=x").mkdir()
    pl.DataFrame({"v": [2.0]}).write_parquet(tmp_path / "day=x" / "p.parquet")
    schema = pl.Schema({"v": pl.Float64(), "day": pl.Int32()})
    adds = [
        AddFile("good.parquet", {"day": "1"}, True),
        AddFile("bad.parquet", {"day": "1"}, True, num_records=5),
        AddFile("day=x/p.parquet", {"day": "x"}, True, num_records=1),  # day is no number
    ]
    got = read_added_files(LocalStore(str(tmp_path)), adds, schema, ["day"])
    assert got.data.rows() == [(1.0, 1)]
    assert set(got.quarantined) == {"bad.parquet", "day=x/p.parquet"}
    assert "ComputeError" in got.quarantined["bad.parquet"]
    assert "ValueError" in got.quarantined["day=x/p.parquet"]
    assert got.quarantined_rows == 6


def test_absolute_paths_and_missing_files_raise(tmp_path):
    schema = pl.Schema({"v": pl.Float64()})
    store = LocalStore(str(tmp_path))
    with pytest.raises(AbsolutePathError):
        read_added_files(store, [AddFile("s3://other/x.parquet", {}, True)], schema, [])
    with pytest.raises(FileNotFoundError):
        read_added_files(store, [AddFile("gone.parquet", {}, True)], schema, [])
