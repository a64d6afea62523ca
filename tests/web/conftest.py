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
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from coptwin.config import Config, load_config

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TOKEN_ENV = "COPTWIN_TEST_NOTES_TOKEN"
SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIASENTINELKEYID0001",
    "AWS_SECRET_ACCESS_KEY": "sentinel-secret-access-key-do-not-leak",
    "AWS_SESSION_TOKEN": "sentinel-session-token-do-not-leak",
    TOKEN_ENV: "sentinel-notes-token-do-not-leak",
}
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--window-size=1400,860",
)


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


class Server:
    """``coptwin serve`` in a child process."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "coptwin.cli", "serve", "--config", str(config), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
        )
        self.output: list[str] = []
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + 120
        self.url = ""
        while not self.url:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise RuntimeError(
                    "coptwin serve did not start:\n" + "".join(self.output)
                ) from None
            if "the COP is at " in line:
                self.url = line.split("the COP is at ", 1)[1].split()[0]

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url.rstrip("/") + path, timeout=30) as resp:
            return resp.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def server(demo) -> Iterator[Server]:
    srv = Server(demo.config_path, SECRETS)
    try:
        yield srv
    finally:
        srv.stop()


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not chromium_available():
        reason = "headless Chromium not installed (apt-get install chromium chromium-driver)"
        if _ci():
            pytest.fail(f"{reason}; required under CI=true", pytrace=False)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="coptwin-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, script: str, timeout: float = 30.0, every: float = 0.05):  # noqa: ANN001
    """Run ``script`` (a JS expression) until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {script}")
        time.sleep(every)
