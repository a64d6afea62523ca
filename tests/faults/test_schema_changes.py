"""Schema evolution under a running reader: nothing read twice, nothing lost."""

from __future__ import annotations

import polars as pl


def test_an_added_column_is_read_and_old_files_fill_it_with_nulls(fault_table):
    t = fault_table
    t.append(6)
    t.tick()
    wider = t.rows(4).with_columns(pl.lit("north").alias("site"))
    t.append(wider, schema_mode="merge")
    batch = t.tick()
    assert not batch.full_reload and batch.data["site"].to_list() == ["north"] * 4
    t.check()
    assert t.tick() is None


def test_a_file_with_a_narrower_number_type_is_widened(fault_table):
    """A writer that stores ``value`` as float32 (or int) is read as the table's float64."""
    t = fault_table
    t.append(3)
    t.tick()
    t.add_file(t.rows(3).with_columns(pl.col("value").cast(pl.Float32)))
    t.add_file(t.rows(2).with_columns(pl.Series("value", [7, 8], dtype=pl.Int32)))
    batch = t.tick()
    assert batch.uncast == {} and batch.data["value"].to_list()[-2:] == [7.0, 8.0]
    t.check()
