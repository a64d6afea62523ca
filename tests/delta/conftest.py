"""Shared fixtures for the Delta reader tests: real tables written by deltalake in tmp_path.

With ``--import-mode=importlib`` test modules cannot import this file, so the
helpers are reached through the ``table`` fixture.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)


class Table:
    """A Delta table in tmp_path with readings-like rows keyed by a unique ``rid``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.uri = str(path)

    @staticmethod
    def rows(ids: Iterable[int], **extra: object) -> pl.DataFrame:
        ids = list(ids)
        frame = pl.DataFrame(
            {
                "rid": pl.Series(ids, dtype=pl.Int64),
                "sensor_id": [f"s{i % 7}" for i in ids],
                "ts": [T0 + dt.timedelta(hours=i) for i in ids],
                "value": [i * 0.5 for i in ids],
                "date": [(T0 + dt.timedelta(hours=i)).date() for i in ids],
            },
            schema_overrides={"ts": pl.Datetime("us", "UTC")},
        )
        for name, value in extra.items():
            frame = frame.with_columns(pl.lit(value).alias(name))
        return frame

    def write(
        self, ids: Iterable[int], mode: str = "append", extra: dict | None = None, **kwargs
    ) -> int:
        """Write rows with the given ids as one commit; returns the new version."""
        kwargs.setdefault("partition_by", ["date"])
        write_deltalake(self.uri, self.rows(ids, **(extra or {})), mode=mode, **kwargs)
        return self.dt().version()

    def dt(self) -> DeltaTable:
        return DeltaTable(self.uri)

    def data_files(self) -> list[Path]:
        return sorted(p for p in self.path.rglob("*.parquet") if "_delta_log" not in p.parts)

    @staticmethod
    def ids(frame: pl.DataFrame) -> list[int]:
        return sorted(frame["rid"].to_list())


@pytest.fixture
def table(tmp_path: Path) -> Table:
    """A not-yet-created table below tmp_path."""
    return Table(tmp_path / "readings")
