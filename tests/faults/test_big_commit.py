"""One commit of a million rows: read in full, every row applied or counted, and the
next small commit still incremental (the engine's kind of narrowing only applies to
full loads, so nothing of an increment is dropped)."""

from __future__ import annotations

import datetime as dt

import polars as pl

ROWS = 1_000_000


def _million() -> pl.DataFrame:
    """A million valid readings of the fault table's eight sensors (recent, distinct)."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    i = pl.int_range(0, ROWS)
    return pl.select(
        sensor_id=pl.lit("s") + (i % 8).cast(pl.String),
        ts=pl.lit(now, dtype=pl.Datetime("us", "UTC")) - pl.duration(seconds=600 - i % 500),
        value=(20 + i % 10).cast(pl.Float64),
        quantity=pl.lit("temperature"),
        unit=pl.lit("degC"),
        date=pl.lit(now.strftime("%Y-%m-%d")),
    )


def test_a_million_rows_in_one_commit(fault_table):
    t = fault_table
    t.append(10)
    t.tick()
    t.append(_million())
    batch = t.tick()
    assert batch is not None and not batch.full_reload and batch.rows == ROWS
    assert t.counts.read == ROWS + 10
    t.check()
