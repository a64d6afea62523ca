"""Lenient type conversion of polars columns: a value that does not convert is marked, never fatal.

Two places convert what a writer stored into the type a reader needs: the Delta
reader (a data file's column -> the table schema, :func:`coptwin.delta.files.align`)
and the column mapping (the table -> coptwin's canonical types,
:mod:`coptwin.model.columns`).  Both follow the same rule so one bad value
never fails a whole file or batch: it becomes null (NaN for float targets,
so it is later counted as a bad value rather than read as "no value"), and
:func:`convert` also says which values failed so they can be counted.
"""

from __future__ import annotations

from typing import NamedTuple

import polars as pl

TS_DTYPE = pl.Datetime("us", "UTC")


class Conversion(NamedTuple):
    """A converted column and a boolean column: present in the source but not converted."""

    value: pl.Expr
    failed: pl.Expr


def convert(col: pl.Expr, source: pl.DataType, target: pl.DataType) -> Conversion:
    """``col`` (of dtype ``source``) as ``target``; unconvertible values null (floats: NaN).

    A conversion polars cannot do at all (a list to a number) raises when the
    expression is evaluated.
    """
    present = col.is_not_null()
    if source == target:
        return Conversion(col, pl.lit(False))
    if isinstance(target, pl.Datetime):
        parsed = _adapt_ts(cast_ts(col, source), target)
    elif target.is_float():
        if source == pl.String:
            parsed = col.str.strip_chars().cast(target, strict=False)
        elif source.is_numeric() or source == pl.Boolean:
            parsed = col.cast(target, strict=False)
        else:
            parsed = pl.lit(None, dtype=target)
        failed = present & parsed.is_null()
        # Present but unconvertible -> NaN, so it is counted as bad, not read as "no value".
        return Conversion(pl.when(failed).then(float("nan")).otherwise(parsed), failed)
    elif target == pl.String and source.is_float():
        # Ids stored as floats (12.0) read back as "12", not "12.0".
        integral = col.is_finite() & (col == col.round(0))
        parsed = (
            pl.when(integral)
            .then(col.cast(pl.Int64, strict=False).cast(pl.String))
            .otherwise(col.cast(pl.String, strict=False))
        )
    elif target == pl.Date and source == pl.String:
        parsed = col.str.strip_chars().str.to_date(strict=False)
    else:
        parsed = col.cast(target, strict=False)
    return Conversion(parsed, present & parsed.is_null())


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
    if dtype == pl.String:
        return _parse_ts_text(col)
    return pl.lit(None, dtype=TS_DTYPE)


def _adapt_ts(col: pl.Expr, target: pl.Datetime) -> pl.Expr:
    """A UTC microsecond timestamp in the target's zone (or naive UTC) and unit."""
    if target.time_zone is None:
        col = col.dt.replace_time_zone(None)
    elif target.time_zone != "UTC":
        col = col.dt.convert_time_zone(target.time_zone)
    return col.dt.cast_time_unit(target.time_unit or "us")


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


#: ISO-8601 forms tried in turn, with an offset (``Z`` is read as +00:00) and naive (UTC).
_AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z")
_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d")


def _parse_ts_text(col: pl.Expr) -> pl.Expr:
    """ISO-8601 text, with or without zone, per value; unparseable -> null.

    Each value is tried against explicit formats, so one odd value does not
    change how the others are read (format inference looks at the first value).
    """
    col = col.str.strip_chars().str.replace(r"[Zz]$", "+00:00")
    aware = [
        col.str.to_datetime(format=f, time_unit="us", time_zone="UTC", strict=False)
        for f in _AWARE_FORMATS
    ]
    naive = [
        col.str.to_datetime(format=f, time_unit="us", strict=False).dt.replace_time_zone("UTC")
        for f in _NAIVE_FORMATS
    ]
    inferred = col.str.to_datetime(time_unit="us", strict=False).dt.replace_time_zone("UTC")
    return pl.coalesce(*aware, *naive, inferred)
