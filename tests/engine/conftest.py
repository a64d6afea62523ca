"""A small real COP for engine tests: generated city, sensors and Delta tables in tmp_path."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

from coptwin.config import Config, load_config
from coptwin.scene.citygen import generate_city
from coptwin.sim.feed import write_sensors
from coptwin.sim.sensors import demo_sensors
from coptwin.sim.writer import READINGS_SCHEMA, append_batch
from tests.support.deltalog import date_commit

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)

CONFIG = """
[storage]
uri = "tables"
[tables.readings]
path = "readings"
[tables.sensors]
path = "sensors"
[tables.annotations]
path = "annotations"
[scene]
path = "{scene}"
crs = "EPSG:32618"
global_offset = {offset}
[[layers]]
name = "environment"
kinds = ["temperature", "air_quality"]
[[layers]]
name = "security"
kinds = ["camera", "motion"]
[rules.temperature]
quantity = "temperature"
warn_high = 28.0
alarm_high = 35.0
stale_after_s = 600
offline_after_s = 3600
[rules.camera]
states = {{ "1" = "ok", "0" = "offline" }}
stale_after_s = 120
"""


@dataclasses.dataclass
class Cop:
    """Everything a test needs to drive a real engine."""

    root: Path
    config: Config
    sensors: pl.DataFrame
    city_dir: Path

    def append(self, rows: list[dict]) -> None:
        """Append readings (dicts with sensor_id, ts, value, quantity ...) as one commit."""
        full = [
            {
                "quantity": "temperature",
                "unit": "degC",
                "lon": None,
                "lat": None,
                "alt": None,
                "date": (r.get("ts") or T0).strftime("%Y-%m-%d"),
                **r,
            }
            for r in rows
        ]
        frame = pl.DataFrame(full, schema=READINGS_SCHEMA)
        uri = self.config.table_uri("readings")
        append_batch(uri, frame, partition_by=["date"])
        # committed in this fixture's world (its clocks run at T0), when its newest reading
        # was: time travel judges a version at its commit time
        date_commit(uri, DeltaTable(uri).version(), max(r.get("ts") or T0 for r in rows))

    def ids(self, kind: str) -> list[str]:
        return self.sensors.filter(pl.col("kind") == kind)["sensor_id"].to_list()


@pytest.fixture(scope="session")
def city_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("city")
    generate_city(out, blocks_x=2, blocks_y=2)
    return out


@pytest.fixture
def cop(tmp_path, city_dir) -> Cop:
    from coptwin.scene.citygen import CityInfo

    info = CityInfo.load(city_dir)
    text = CONFIG.format(scene=info.root_layer.as_posix(), offset=list(info.global_offset))
    (tmp_path / "cop.toml").write_text(text, encoding="utf-8")
    config = load_config(tmp_path / "cop.toml")
    sensors = demo_sensors(info.layout(), trackers=2)
    write_sensors(config, sensors)
    return Cop(tmp_path, config, sensors, city_dir)
