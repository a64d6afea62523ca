"""VACUUM retention: never below 7 days or the table's own setting."""

from __future__ import annotations

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from coptwin.maintenance.retention import (
    MIN_RETENTION_HOURS,
    parse_interval_hours,
    table_retention_hours,
    vacuum_retention,
)


@pytest.mark.parametrize(
    ("text", "hours"),
    [
        ("interval 7 days", 168.0),
        ("interval 1 week", 168.0),
        ("interval 36 hours", 36.0),
        ("interval 90 minutes", 1.5),
        ("interval 0 seconds", 0.0),
        ("INTERVAL 2 DAYS", 48.0),
        ("30 days", 720.0),
        ("interval 3 fortnights", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_interval_hours(text, hours):
    assert parse_interval_hours(text) == hours


def test_default_is_seven_days_or_the_longer_table_setting():
    assert MIN_RETENTION_HOURS == 168
    assert vacuum_retention(None, None) == 168
    assert vacuum_retention(None, 24.0) == 168
    assert vacuum_retention(None, 240.5) == 241
    assert vacuum_retention(500, None) == 500


def test_short_retention_is_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"below 168 h \(7 days\).*time travel"):
        vacuum_retention(24, None)
    with pytest.raises(ValueError, match="deletedFileRetentionDuration"):
        vacuum_retention(200, 240.0)
    with pytest.raises(ValueError, match="negative"):
        vacuum_retention(-1, None)
    assert vacuum_retention(0, None, allow_short=True) == 0


def test_table_retention_from_properties(tmp_path):
    uri = str(tmp_path / "t")
    write_deltalake(uri, pl.DataFrame({"a": [1]}))
    assert table_retention_hours(DeltaTable(uri)) == (None, 720.0)
    uri2 = str(tmp_path / "t2")
    write_deltalake(
        uri2,
        pl.DataFrame({"a": [1]}),
        configuration={
            "delta.deletedFileRetentionDuration": "interval 14 days",
            "delta.logRetentionDuration": "interval 60 days",
        },
    )
    assert table_retention_hours(DeltaTable(uri2)) == (336.0, 1440.0)
