"""Shared fixtures for the model tests: configs, registries and a fixed clock.

With ``--import-mode=importlib`` test modules cannot import this file, so the
helpers are handed out as fixtures that return factories.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest

from coptwin.config import Config, config_from_dict
from coptwin.model.columns import to_canonical
from coptwin.model.registry import SensorRegistry

NOW = dt.datetime(2024, 6, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def now() -> dt.datetime:
    return NOW


@pytest.fixture
def make_config() -> Callable[..., Config]:
    def make(**sections: Any) -> Config:
        data: dict[str, Any] = {
            "storage": {"uri": "tables"},
            "tables": {"readings": {"path": "readings"}, "sensors": {"path": "sensors"}},
            "layers": [
                {"name": "environment", "kinds": ["temperature", "air_quality"]},
                {"name": "security", "kinds": ["motion", "camera"]},
            ],
        }
        data.update(sections)
        return config_from_dict(data, source="test.toml")

    return make


@pytest.fixture
def config(make_config: Callable[..., Config]) -> Config:
    return make_config()


@pytest.fixture
def make_registry() -> Callable[[Config, list[dict[str, Any]]], SensorRegistry]:
    """Registry from sensor dicts (lon/lat default to a valid point)."""

    def make(config: Config, sensors: list[dict[str, Any]]) -> SensorRegistry:
        rows = [{"lon": 13.4, "lat": 52.5, **s} for s in sensors]
        df = pl.DataFrame(rows, infer_schema_length=None)
        return SensorRegistry.from_frame(to_canonical(df, config.tables.sensors, "sensors"), config)

    return make


@pytest.fixture
def make_rows(config: Config) -> Callable[..., pl.DataFrame]:
    """Canonical readings from dicts; ``age`` (seconds before NOW) may replace ``ts``."""

    def make(rows: list[dict[str, Any]]) -> pl.DataFrame:
        out = []
        for r in rows:
            r = dict(r)
            if "age" in r:
                r["ts"] = NOW - dt.timedelta(seconds=r.pop("age"))
            out.append(r)
        schema = {
            "sensor_id": pl.Utf8,
            "ts": pl.Datetime("us", "UTC"),
            "value": pl.Float64,
            "quantity": pl.Utf8,
            "unit": pl.Utf8,
            "lon": pl.Float64,
            "lat": pl.Float64,
            "alt": pl.Float64,
        }
        keys = {k for r in out for k in r}
        df = pl.DataFrame(out, schema={k: v for k, v in schema.items() if k in keys})
        return to_canonical(df, config.tables.readings, "readings")

    return make
