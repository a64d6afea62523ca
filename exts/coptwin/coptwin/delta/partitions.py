"""Typed partition values from a Delta ``add`` action.

Partition columns are not stored in the data files; their values live as
strings in the log (``partitionValues``) and must be cast to the column's
schema type, following the Delta protocol's "Partition Value Serialization".
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import polars as pl


def _parse_datetime(text: str, tz_aware: bool) -> dt.datetime:
    # Both "2024-01-01 10:00:00[.ffffff]" and ISO 8601 "2024-01-01T10:00:00Z" are allowed;
    # fromisoformat accepts "Z" and odd fraction lengths only from Python 3.11 on.
    cleaned = text.strip().replace("Z", "+00:00")
    try:
        value = dt.datetime.fromisoformat(cleaned)
    except ValueError:
        try:
            value = pl.Series([cleaned]).str.to_datetime(time_unit="us")[0]
        except pl.exceptions.PolarsError:
            raise ValueError(f"not a timestamp: {text!r}") from None
    if tz_aware:
        if value.tzinfo is None:  # the protocol stores UTC timestamps without an offset
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)
    return value.replace(tzinfo=None)


def parse_partition_value(text: str | None, dtype: pl.DataType) -> Any:
    """One serialized partition value as a Python value of ``dtype``.

    Raises ValueError on text that does not fit the type.
    """
    if text is None:
        return None
    if dtype == pl.String:
        return text
    if text == "":
        return None  # Spark and delta-rs write null partitions as empty strings too
    if dtype.is_integer():
        return int(text)
    if dtype.is_float():
        return float(text)
    if dtype == pl.Boolean:
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ValueError(f"not a boolean: {text!r}")
        return lowered == "true"
    if dtype == pl.Date:
        return dt.date.fromisoformat(text.strip()[:10])
    if isinstance(dtype, pl.Datetime):
        return _parse_datetime(text, tz_aware=dtype.time_zone is not None)
    if isinstance(dtype, pl.Decimal):
        return Decimal(text)
    if dtype == pl.Binary:
        return text.encode("utf-8")
    raise ValueError(f"partition columns of type {dtype} are not supported")


def partition_columns(
    values: dict[str, str | None], schema: pl.Schema, wanted: list[str]
) -> list[pl.Expr]:
    """Literal expressions adding each wanted partition column with its schema type."""
    exprs = []
    for name in wanted:
        dtype = schema[name]
        value = parse_partition_value(values.get(name), dtype)
        exprs.append(pl.lit(value, dtype=dtype).alias(name))
    return exprs
