"""Fixtures for coptwin.render: a small real COP (generated city, Delta tables, an engine
with a fixed clock) whose sensors have one known status each, and the shared scenes."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

from coptwin.config import Config, load_config
from coptwin.scene.citygen import CityInfo, generate_city
from coptwin.sim.feed import write_sensors
from coptwin.sim.sensors import demo_sensors
from coptwin.sim.writer import READINGS_SCHEMA, append_batch
from tests.support.deltalog import date_commit
from tests.support.require import shared_path

REPO_ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(seconds=5)

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
title = "Environment"
kinds = ["temperature", "air_quality"]
[[layers]]
name = "security"
title = "Security"
kinds = ["camera", "motion"]
[rules.temperature]
quantity = "temperature"
warn_high = 28.0
alarm_high = 35.0
stale_after_s = 600
offline_after_s = 3600
[rules.camera]
quantity = "online"
states = {{ "1" = "ok", "0" = "offline" }}
stale_after_s = 120
offline_after_s = 900
"""


def scene_path(name: str) -> Path:
    """A shared CityEngine scene's root layer (skips locally, fails under CI when
    ../shared is absent: tests.support.require)."""
    return shared_path("scenes", name, name, f"{name}.usdc")


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@dataclasses.dataclass
class Cop:
    root: Path
    config: Config
    sensors: pl.DataFrame
    city_dir: Path
    #: sensor id -> the status its readings give at NOW
    expected: dict[str, str]

    def append(self, rows: list[dict]) -> None:
        full = [
            {
                "quantity": "temperature",
                "unit": "degC",
                "lon": None,
                "lat": None,
                "alt": None,
                "date": r["ts"].strftime("%Y-%m-%d"),
                **r,
            }
            for r in rows
        ]
        frame = pl.DataFrame(full, schema=READINGS_SCHEMA)
        uri = self.config.table_uri("readings")
        append_batch(uri, frame, partition_by=["date"])
        # committed in this fixture's world (its clock is NOW), when its newest reading was
        date_commit(uri, DeltaTable(uri).version(), max(r["ts"] for r in rows))

    def ids(self, kind: str) -> list[str]:
        return self.sensors.filter(pl.col("kind") == kind)["sensor_id"].to_list()

    def engine(self, now: datetime = NOW):
        from coptwin.engine.engine import Engine

        engine = Engine(self.config, clock=lambda: now)
        engine.open()
        engine.tick()
        return engine


@pytest.fixture(scope="session")
def city_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("city")
    generate_city(out, blocks_x=2, blocks_y=2)
    return out


@pytest.fixture
def cop(tmp_path, city_dir) -> Cop:
    """Every status on the map: ok / warn / alarm temperatures, an offline and a stale
    camera, unknown for sensors without readings (two commits: versions 0 and 1). The
    temperature sensors chosen share their roof with no other sensor (building k has an
    air-quality sensor beside its thermometer when k % 3 == 0)."""
    info = CityInfo.load(city_dir)
    text = CONFIG.format(scene=info.root_layer.as_posix(), offset=list(info.global_offset))
    (tmp_path / "cop.toml").write_text(text, encoding="utf-8")
    config = load_config(tmp_path / "cop.toml")
    sensors = demo_sensors(info.layout(), trackers=0)
    write_sensors(config, sensors)
    cop = Cop(tmp_path, config, sensors, city_dir, {})
    temps, cams = cop.ids("temperature"), cop.ids("camera")
    cop.append(
        [
            {"sensor_id": temps[4], "ts": T0, "value": 21.0},
            {"sensor_id": temps[1], "ts": T0, "value": 30.0},
            {"sensor_id": temps[2], "ts": T0, "value": 40.0},
        ]
    )
    online = {"quantity": "online", "unit": ""}
    cop.append(
        [
            {"sensor_id": cams[0], "ts": T0, "value": 0.0, **online},
            {"sensor_id": cams[1], "ts": T0 - timedelta(seconds=300), "value": 1.0, **online},
            {"sensor_id": temps[2], "ts": T0 + timedelta(seconds=1), "value": 41.0},
        ]
    )
    cop.expected = {
        temps[4]: "ok",
        temps[1]: "warn",
        temps[2]: "alarm",
        cams[0]: "offline",
        cams[1]: "stale",
        temps[3]: "unknown",
    }
    return cop
