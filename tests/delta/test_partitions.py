"""Partition value strings from the log, cast to the schema type."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from coptwin.delta.partitions import parse_partition_value, partition_columns

UTC = dt.timezone.utc
TS = pl.Datetime("us", "UTC")
AT = dt.datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "dtype", "expected"),
    [
        ("abc", pl.String(), "abc"),
        ("", pl.String(), ""),
        ("", pl.Int64(), None),
        (None, pl.Date(), None),
        ("42", pl.Int32(), 42),
        ("-7", pl.Int64(), -7),
        ("2.5", pl.Float64(), 2.5),
        ("true", pl.Boolean(), True),
        ("FALSE", pl.Boolean(), False),
        ("2024-03-01", pl.Date(), dt.date(2024, 3, 1)),
        ("2024-03-01 10:20:30", TS, AT),
        (
            "2024-03-01 10:20:30.000123",
            pl.Datetime("us", "UTC"),
            dt.datetime(2024, 3, 1, 10, 20, 30, 123, tzinfo=UTC),
        ),
        ("2024-03-01T10:20:30Z", TS, AT),
        (
            "2024-03-01T12:20:30+02:00",
            pl.Datetime("us", "UTC"),
            dt.datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC),
        ),
        ("2024-03-01 10:20:30", pl.Datetime("us"), dt.datetime(2024, 3, 1, 10, 20, 30)),
        ("12.50", pl.Decimal(10, 2), Decimal("12.50")),
    ],
)
def test_parse_partition_value(text, dtype, expected):
    assert parse_partition_value(text, dtype) == expected


@pytest.mark.parametrize(
    ("text", "dtype"),
    [
        ("x1", pl.Int64()),
        ("maybe", pl.Boolean()),
        ("2024-13-01", pl.Date()),
        ("1", pl.List(pl.Int8)),
    ],
)
def test_bad_partition_values_raise(text, dtype):
    with pytest.raises(ValueError):
        parse_partition_value(text, dtype)


def test_partition_columns_are_typed_literals():
    schema = pl.Schema({"v": pl.Float64(), "day": pl.Date(), "k": pl.Int16()})
    frame = pl.DataFrame({"v": [1.0, 2.0]}).with_columns(
        partition_columns({"day": "2024-02-29", "k": None}, schema, ["day", "k"])
    )
    assert frame.schema == schema
    assert frame.rows() == [(1.0, dt.date(2024, 2, 29), None), (2.0, dt.date(2024, 2, 29), None)]


def test_timestamp_fallback_formats():
    ts = pl.Datetime("us", "UTC")
    assert parse_partition_value("2024-03-01 10:20:30.12", ts) == dt.datetime(
        2024, 3, 1, 10, 20, 30, 120000, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="not a timestamp"):
        parse_partition_value("yesterday", ts)
