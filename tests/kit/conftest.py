"""Fixtures for the Kit-side pytest tests: the omni/carb STAND-IN and local COP data.

``kit`` puts the stand-in modules from ``standin/kit_standin.py`` into
``sys.modules`` for one test and takes them (and every ``coptwin.kit``
module imported against them) out again afterwards, so no other test ever
sees a fake ``omni``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

STANDIN = Path(__file__).parent / "standin" / "kit_standin.py"
EXT_ID = "coptwin-0.1.0"


def _load_standin() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("coptwin_tests_kit_standin", STANDIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _drop(prefixes: tuple[str, ...]) -> dict[str, types.ModuleType]:
    gone = {}
    for name in list(sys.modules):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            gone[name] = sys.modules.pop(name)
    return gone


@dataclass
class Kit:
    """Handle on the stand-in: its world (what is alive) and helpers."""

    standin: types.ModuleType
    world: object
    ext_id: str = EXT_ID

    @property
    def context(self):
        return self.world.context

    def import_kit(self) -> types.ModuleType:
        return importlib.import_module("coptwin.kit")

    def settings(self, **values) -> None:
        for key, value in values.items():
            self.world.settings[f"/exts/coptwin/{key}"] = value


@pytest.fixture
def kit(request) -> Iterator[Kit]:
    modern = getattr(request, "param", "modern-events") == "modern-events"
    standin = _load_standin()
    world = standin.World(modern_events=modern)
    saved = _drop(("omni", "carb", "coptwin.kit"))
    sys.modules.update(standin.build(world))
    try:
        yield Kit(standin, world)
    finally:
        _drop(("omni", "carb", "coptwin.kit"))
        sys.modules.update(saved)


@pytest.fixture
def cop_tables(tmp_path: Path) -> Path:
    """A coptwin config over real local Delta tables (sensors + readings) written by deltalake."""
    import polars as pl

    tables = tmp_path / "tables"
    now = datetime.now(timezone.utc).replace(microsecond=0)
    sensors = pl.DataFrame(
        {
            "sensor_id": ["t1", "t2", "m1"],
            "name": ["Tower roof", "Harbour", "Gate motion"],
            "kind": ["temperature", "temperature", "motion"],
            "layer": ["environment", "environment", "security"],
            "lon": [-74.0060, -74.0050, -74.0055],
            "lat": [40.7128, 40.7130, 40.7125],
            "mount": ["ground", "ground", "ground"],
            "unit": ["°C", "°C", ""],
        }
    )
    sensors.write_delta(str(tables / "sensors"))
    readings = pl.DataFrame(
        {
            "sensor_id": ["t1", "t2", "m1"],
            "ts": [now - timedelta(seconds=s) for s in (5, 10, 3)],
            "value": [21.5, 41.0, 1.0],
            "quantity": ["temperature", "temperature", "motion"],
            "unit": ["°C", "°C", ""],
        }
    ).with_columns(
        pl.col("ts").dt.cast_time_unit("us").dt.replace_time_zone("UTC"),
        pl.col("ts").dt.date().cast(pl.Utf8).alias("date"),
    )
    readings.write_delta(str(tables / "readings"), delta_write_options={"partition_by": ["date"]})
    config = tmp_path / "cop.toml"
    config.write_text(
        f"""
[storage]
uri = "{tables.as_posix()}"

[tables.readings]
path = "readings"

[tables.sensors]
path = "sensors"

[[layers]]
name = "environment"
kinds = ["temperature"]

[[layers]]
name = "security"
kinds = ["motion"]

[scene]
enu_origin = {{ lat = 40.7128, lon = -74.0060 }}
ground_elevation_m = 0.0

[events.polling]
interval_s = 0.2
""",
        encoding="utf-8",
    )
    return config
