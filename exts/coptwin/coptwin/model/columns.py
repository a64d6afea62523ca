"""Map a user's table columns onto coptwin's canonical names and types.

Every module after this one speaks only canonical column names
(``config.CANONICAL_COLUMNS``), so a site with ``device``/``time`` columns works
by configuration alone.  Types are normalised here once: timestamps become
``Datetime("us", "UTC")`` whatever unit or zone they arrive in (tz-naive means
UTC), numbers become Float64 and ids become text.

Values that cannot be converted are not dropped here (that would be silent
loss): an unparseable timestamp becomes null (later counted as ``null_ts``) and
an unparseable number becomes NaN (later counted as ``bad_value``).
"""

from __future__ import annotations

import logging

import polars as pl

from coptwin.config import CANONICAL_COLUMNS, TableConfig

log = logging.getLogger(__name__)

TS_DTYPE = pl.Datetime("us", "UTC")

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
}

#: Columns without which a table cannot be used at all.
REQUIRED: dict[str, tuple[str, ...]] = {
    "readings": ("sensor_id", "ts"),
    "sensors": ("sensor_id", "kind", "lon", "lat"),
    "annotations": ("annotation_id",),
}


class SchemaError(ValueError):
    """A table lacks a required column (the message names table and columns)."""


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
            f"map your names with tables.{table}.columns in the config"
        )
    exprs = []
    for canonical in CANONICAL_COLUMNS[table]:
        dtype = dtypes[canonical]
        source = table_cfg.column(canonical)
        if source in df.columns:
            exprs.append(_cast(df.schema[source], source, dtype).alias(canonical))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(canonical))
    return df.select(exprs)


def cast_ts(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Any timestamp-like column -> ``Datetime("us", "UTC")`` (naive means UTC)."""
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            col = col.dt.replace_time_zone("UTC")
        elif dtype.time_zone != "UTC":
            col = col.dt.convert_time_zone("UTC")
        return col.dt.cast_time_unit("us")
    if isinstance(dtype, pl.Date):
        return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if dtype.is_integer():
        return _epoch_to_ts(col.cast(pl.Int64))
    if dtype.is_float():
        # Float epochs are seconds (e.g. Python's time.time()).
        micros = (col * 1e6).round(0)
        ok = micros.is_finite()
        return (
            pl.when(ok)
            .then(micros)
            .otherwise(None)
            .cast(pl.Int64, strict=False)
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("UTC")
        )
    if dtype == pl.Utf8:
        return _parse_ts_text(col)
    return pl.lit(None, dtype=TS_DTYPE)


def _epoch_to_ts(col: pl.Expr) -> pl.Expr:
    """Integer epochs; the unit (s, ms, us, ns) is inferred from the column's magnitude."""
    magnitude = col.abs().max()
    micros = (
        pl.when(magnitude < 1e11)
        .then(col * 1_000_000)
        .when(magnitude < 1e14)
        .then(col * 1_000)
        .when(magnitude < 1e17)
        .then(col)
        .otherwise(col // 1_000)
    )
    return micros.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def _parse_ts_text(col: pl.Expr) -> pl.Expr:
    """ISO-8601 text, with or without zone; unparseable -> null (counted later)."""
    aware = col.str.to_datetime(
        time_unit="us", time_zone="UTC", strict=False, format="%Y-%m-%dT%H:%M:%S%.f%z"
    )
    aware_space = col.str.to_datetime(
        time_unit="us", time_zone="UTC", strict=False, format="%Y-%m-%d %H:%M:%S%.f%z"
    )
    naive = col.str.replace(r"Z$", "").str.to_datetime(time_unit="us", strict=False)
    return pl.coalesce(aware, aware_space, naive.dt.replace_time_zone("UTC"))


def _cast(dtype: pl.DataType, source: str, target: pl.DataType) -> pl.Expr:
    col = pl.col(source)
    if target == TS_DTYPE:
        return cast_ts(col, dtype)
    if target == pl.Float64:
        if dtype == pl.Float64:
            return col
        if dtype == pl.Utf8:
            parsed = col.str.strip_chars().cast(pl.Float64, strict=False)
        elif dtype.is_numeric() or dtype == pl.Boolean:
            parsed = col.cast(pl.Float64, strict=False)
        else:
            parsed = pl.lit(None, dtype=pl.Float64)
        # Present but unconvertible -> NaN, so it is counted as bad, not lost.
        return pl.when(col.is_not_null() & parsed.is_null()).then(float("nan")).otherwise(parsed)
    if target == pl.Utf8:
        if dtype == pl.Utf8:
            return col
        if dtype.is_float():
            # Ids stored as floats (12.0) read back as "12", not "12.0".
            integral = col.is_finite() & (col == col.round(0))
            return (
                pl.when(integral)
                .then(col.cast(pl.Int64, strict=False).cast(pl.Utf8))
                .otherwise(col.cast(pl.Utf8, strict=False))
            )
        return col.cast(pl.Utf8, strict=False)
    return col.cast(target, strict=False)
