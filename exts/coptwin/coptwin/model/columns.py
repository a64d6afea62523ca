"""Map a user's table columns onto coptwin's canonical names and types.

Every module after this one speaks only canonical column names
(``config.CANONICAL_COLUMNS``), so a site with ``device``/``time`` columns works
by configuration alone.  Types are normalised here once: timestamps become
``Datetime("us", "UTC")`` whatever unit or zone they arrive in (tz-naive means
UTC), numbers become Float64 and ids become text.

Values that cannot be converted are not dropped here (that would be silent
loss): an unparseable timestamp becomes null (later counted as ``null_ts``) and
an unparseable number becomes NaN (later counted as ``bad_value``); the rules
are :func:`coptwin.casting.convert`, which the Delta reader applies too.
"""

from __future__ import annotations

import polars as pl

from coptwin.casting import TS_DTYPE, cast_ts, convert
from coptwin.config import CANONICAL_COLUMNS, TableConfig
from coptwin.problem import Problem

__all__ = [
    "DTYPES",
    "REQUIRED",
    "TS_DTYPE",
    "SchemaError",
    "cast_ts",
    "empty_frame",
    "to_canonical",
]

#: Canonical dtype of every canonical column, per table.
DTYPES: dict[str, dict[str, pl.DataType]] = {
    "readings": {
        "sensor_id": pl.Utf8(),
        "ts": TS_DTYPE,
        "value": pl.Float64(),
        "quantity": pl.Utf8(),
        "unit": pl.Utf8(),
        "lon": pl.Float64(),
        "lat": pl.Float64(),
        "alt": pl.Float64(),
        "date": pl.Utf8(),
    },
    "sensors": {
        "sensor_id": pl.Utf8(),
        "name": pl.Utf8(),
        "kind": pl.Utf8(),
        "layer": pl.Utf8(),
        "lon": pl.Float64(),
        "lat": pl.Float64(),
        "alt": pl.Float64(),
        "mount": pl.Utf8(),
        "object_id": pl.Utf8(),
        "prim_path": pl.Utf8(),
        "unit": pl.Utf8(),
        "mount_height_m": pl.Float64(),
        "warn_low": pl.Float64(),
        "warn_high": pl.Float64(),
        "alarm_low": pl.Float64(),
        "alarm_high": pl.Float64(),
    },
    "annotations": {
        "annotation_id": pl.Utf8(),
        "event_id": pl.Utf8(),
        "event": pl.Utf8(),
        "created_at": TS_DTYPE,
        "author": pl.Utf8(),
        "target": pl.Utf8(),
        "text": pl.Utf8(),
        "status": pl.Utf8(),
        "parent_id": pl.Utf8(),
    },
    "alarms": {
        "event_id": pl.Utf8(),
        "alarm_id": pl.Utf8(),
        "event": pl.Utf8(),
        "ts": TS_DTYPE,
        "author": pl.Utf8(),
        "sensor_id": pl.Utf8(),
        "layer": pl.Utf8(),
        "status": pl.Utf8(),
        "value": pl.Float64(),
        "reason": pl.Utf8(),
        "until": TS_DTYPE,
    },
}

#: Columns without which a table cannot be used at all.
REQUIRED: dict[str, tuple[str, ...]] = {
    "readings": ("sensor_id", "ts"),
    "sensors": ("sensor_id", "kind", "lon", "lat"),
    "annotations": ("annotation_id",),
    "alarms": ("event_id", "alarm_id", "event"),
}


class SchemaError(Problem, ValueError):
    """A table lacks a required column (the message names table and columns; ``key``
    is the config's column mapping for it)."""


def empty_frame(table: str) -> pl.DataFrame:
    """An empty frame with the canonical schema of ``table``."""
    return pl.DataFrame(schema=DTYPES[table])


def to_canonical(df: pl.DataFrame, table_cfg: TableConfig, table: str) -> pl.DataFrame:
    """Rename ``df``'s columns to canonical names and cast them to canonical types.

    Only canonical columns are kept (in canonical order); missing optional ones
    are added as typed nulls.  A missing required column raises
    :class:`SchemaError`.  A frame with no columns at all (an empty batch)
    yields an empty canonical frame.
    """
    if table not in DTYPES:
        raise SchemaError(f"unknown table {table!r}; expected one of {', '.join(DTYPES)}")
    if df.width == 0:
        return empty_frame(table)
    dtypes = DTYPES[table]
    missing = [c for c in REQUIRED[table] if table_cfg.column(c) not in df.columns]
    if missing:
        expected = ", ".join(f"{c!r} (column {table_cfg.column(c)!r})" for c in missing)
        raise SchemaError(
            f"table {table!r}: missing required column(s) {expected}; "
            f"found {', '.join(df.columns) or 'no columns'} — "
            f"map your names with tables.{table}.columns in the config",
            key=f"tables.{table}.columns",
        )
    exprs = []
    for canonical in CANONICAL_COLUMNS[table]:
        dtype = dtypes[canonical]
        source = table_cfg.column(canonical)
        if source in df.columns:
            exprs.append(convert(pl.col(source), df.schema[source], dtype).value.alias(canonical))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(canonical))
    return df.select(exprs)
