"""Reading individual added files and aligning them to the table schema."""

from __future__ import annotations

import polars as pl
import pytest
from obstore.store import LocalStore

from coptwin.delta.files import AbsolutePathError, align, read_added_files
from coptwin.delta.log import AddFile


def test_align_orders_casts_and_fills_missing_columns():
    schema = pl.Schema({"a": pl.Int64(), "b": pl.String(), "c": pl.Float64()})
    frame = pl.DataFrame({"c": [1.5], "a": pl.Series([3], dtype=pl.Int32), "zz": [0]})
    out = align(frame, schema)
    assert out.schema == schema
    assert out.rows() == [(3, None, 1.5)]
    assert align(frame, schema, ["c", "a"]).columns == ["a", "c"]
    empty = align(pl.DataFrame(), schema)
    assert empty.height == 0 and empty.schema == schema


def test_read_added_files_adds_partition_values(tmp_path):
    (tmp_path / "day=1").mkdir()
    pl.DataFrame({"v": [1.0, 2.0]}).write_parquet(tmp_path / "day=1" / "a b.parquet")
    pl.DataFrame({"v": [3.0], "extra": ["x"]}).write_parquet(tmp_path / "c.parquet")
    schema = pl.Schema({"v": pl.Float64(), "extra": pl.String(), "day": pl.Int32()})
    adds = [
        AddFile("day=1/a%20b.parquet", {"day": "1"}, True),  # paths in the log are URI-encoded
        AddFile("c.parquet", {"day": None}, True),
    ]
    out = read_added_files(LocalStore(str(tmp_path)), adds, schema, ["day"])
    assert out.schema == schema
    assert out.rows() == [(1.0, None, 1), (2.0, None, 1), (3.0, "x", None)]
    assert read_added_files(LocalStore(str(tmp_path)), [], schema, ["day"]).height == 0


def test_absolute_paths_and_missing_files_raise(tmp_path):
    schema = pl.Schema({"v": pl.Float64()})
    store = LocalStore(str(tmp_path))
    with pytest.raises(AbsolutePathError):
        read_added_files(store, [AddFile("s3://other/x.parquet", {}, True)], schema, [])
    with pytest.raises(FileNotFoundError):
        read_added_files(store, [AddFile("gone.parquet", {}, True)], schema, [])
