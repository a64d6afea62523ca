"""A running ``coptwin serve`` on the demo's tables, and headless Chromium to look at it.

``demo`` builds what ``coptwin demo`` builds (sample city, sensors, 30 minutes of
history) in a temporary copy of the repository layout; ``server`` runs the real
command in a child process on a port it picks and stops it by PID.  The server's
environment carries sentinel "secrets" (storage keys, the notes token) that tests
look for in every response.

``browser`` is Debian's chromium driven by Selenium through chromium-driver (software
WebGL: SwiftShader).  Without chromium the browser tests are skipped with the reason,
except under CI=true where that is a failure.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from coptwin.bench.web import ServeProcess, chromium, chromium_available, wait_for  # noqa: F401
from coptwin.config import Config, load_config

REPO = Path(__file__).resolve().parents[2]
TOKEN_ENV = "COPTWIN_TEST_NOTES_TOKEN"
SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIASENTINELKEYID0001",
    "AWS_SECRET_ACCESS_KEY": "sentinel-secret-access-key-do-not-leak",
    "AWS_SESSION_TOKEN": "sentinel-session-token-do-not-leak",
    TOKEN_ENV: "sentinel-notes-token-do-not-leak",
}


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclasses.dataclass
class Demo:
    root: Path
    config_path: Path
    config: Config
    sensors: pl.DataFrame

    def append(self, rows: list[dict]) -> None:
        """One Delta commit of readings (sensor_id, value, quantity, unit; ts defaults to now)."""
        from coptwin.sim.writer import READINGS_SCHEMA, append_batch

        now = datetime.now(timezone.utc)
        full = [{"ts": now, "lon": None, "lat": None, "alt": None, "unit": "", **r} for r in rows]
        for r in full:
            r["date"] = r["ts"].strftime("%Y-%m-%d")
        frame = pl.DataFrame(full, schema=READINGS_SCHEMA)
        append_batch(self.config.table_uri("readings"), frame, partition_by=["date"])


def make_demo(root: Path, web_section: str = "") -> Demo:
    """What ``coptwin demo`` sets up, without streaming: city, sensors, history."""
    from coptwin.scene.citygen import ensure_city
    from coptwin.sim.feed import Feed, write_sensors
    from coptwin.sim.readings import ReadingSimulator
    from coptwin.sim.sensors import demo_sensors, street_routes

    (root / "config").mkdir(parents=True)
    text = (REPO / "config" / "demo.toml").read_text(encoding="utf-8")
    config_path = root / "config" / "demo.toml"
    config_path.write_text(text + web_section, encoding="utf-8")
    cfg = load_config(config_path)
    info = ensure_city(cfg.resolve_path(cfg.scene.path or "").parents[2])
    layout = info.layout()
    cfg.resolve_path(cfg.storage.uri).mkdir(parents=True)
    sensors = demo_sensors(layout)
    write_sensors(cfg, sensors)
    sim = ReadingSimulator(sensors, routes=street_routes(layout), fraction=0.3)
    Feed(cfg, sim).backfill(minutes=30, step_min=10)
    return Demo(root, config_path, cfg, sensors)


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Demo:
    section = f'\n[web]\nnotes_token_env = "{TOKEN_ENV}"\n'
    return make_demo(tmp_path_factory.mktemp("webdemo"), section)


Server = ServeProcess


@pytest.fixture(scope="session")
def server(demo) -> Iterator[Server]:
    srv = Server(demo.config_path, SECRETS)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not chromium_available():
        reason = "headless Chromium not installed (apt-get install chromium chromium-driver)"
        if _ci():
            pytest.fail(f"{reason}; required under CI=true", pytrace=False)
        pytest.skip(reason)
    with chromium() as driver:
        yield driver
