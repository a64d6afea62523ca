"""Web benchmark: the browser COP with 10,000 sensors in headless Chromium.

Runs a real ``coptwin serve`` (child process) on a generated city with N ground
sensors, opens the page in headless Chromium (WebGL drawn by SwiftShader, i.e. on
the CPU: a desktop GPU draws far faster), then appends one Delta commit per second
changing ``changed_per_s`` sensors for ``duration_s`` seconds, and reports:

* initial page load (navigation to the first full picture) and the bytes it took;
* page frames per second (``requestAnimationFrame``) and map redraws per second,
  idle (baseline) and under the update load;
* server CPU (% of one core), idle (baseline) and under load;
* bytes per pushed update and per changed sensor, beside the baseline of resending
  the whole state on every update;
* latency on one clock: from a reading's time (its commit) and from the engine's tick
  (``Engine.on_commit``) to the page having applied it.

``ServeProcess`` and ``chromium`` are also what the browser tests use.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Headless, no network chatter of its own, software WebGL (SwiftShader).
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


class ServeProcess:
    """``coptwin serve --config F --port 0`` in a child process; ``url`` once it listens."""

    def __init__(self, config: Path, env: dict[str, str] | None = None, timeout: float = 180):
        full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "coptwin.cli", "serve", "--config", str(config), "--port", "0"]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full_env
        )
        self.output: list[str] = []
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
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

    @property
    def pid(self) -> int:
        return self.proc.pid

    def get(self, path: str, headers: dict[str, str] | None = None) -> bytes:
        req = urllib.request.Request(self.url.rstrip("/") + path, headers=headers or {})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium through chromium-driver (Selenium), with a throw-away profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not chromium_available():
        raise RuntimeError(
            "headless Chromium not installed (apt-get install chromium chromium-driver)"
        )
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


def wait_for(driver: Any, script: str, timeout: float = 30.0, every: float = 0.05) -> Any:
    """Run ``script`` (a JS expression) until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for: {script}")
        time.sleep(every)


# ---------------------------------------------------------------------- fixture
def build_fixture(workdir: Path, n_sensors: int, n_buildings: int) -> tuple[Path, list[str]]:
    """A generated city, N ground sensors and one commit with a reading for each."""
    from coptwin.bench.tick import config_text, write_ground_sensors
    from coptwin.scene.citygen import ensure_city
    from coptwin.scene.citylayout import blocks_for
    from coptwin.sim.writer import append_batch

    workdir = Path(workdir).resolve()
    shutil.rmtree(workdir / "tables", ignore_errors=True)
    bx, by = blocks_for(n_buildings)
    info = ensure_city(workdir / "data", blocks_x=bx, blocks_y=by)
    rng = np.random.default_rng(7)
    tables = workdir / "tables"
    ids = write_ground_sensors(tables / "sensors", info, n_sensors, rng)
    append_batch(str(tables / "readings"), _readings(ids, rng), partition_by=["date"])
    cfg = workdir / "web.toml"
    text = config_text(tables, info.root_layer, list(info.global_offset))
    cfg.write_text(text + "\n[events.polling]\ninterval_s = 0.25\n", encoding="utf-8")
    return cfg, ids


def _readings(ids: list[str], rng: np.random.Generator) -> pl.DataFrame:
    now = datetime.now(timezone.utc)
    k = len(ids)
    return pl.DataFrame(
        {
            "sensor_id": ids,
            "ts": pl.Series([now] * k, dtype=pl.Datetime("us", "UTC")),
            # Around the warn (28) and alarm (35) thresholds: most commits change statuses.
            "value": rng.normal(28.0, 6.0, k),
            "quantity": ["temperature"] * k,
            "unit": ["degC"] * k,
            "lon": pl.Series([None] * k, dtype=pl.Float64),
            "lat": pl.Series([None] * k, dtype=pl.Float64),
            "alt": pl.Series([None] * k, dtype=pl.Float64),
            "date": [now.strftime("%Y-%m-%d")] * k,
        }
    )


# ---------------------------------------------------------------------- measuring
_COUNTERS = """
window.__b = {frames: 0, renders: 0, bytes: 0, updates: 0, changed: 0, lat: [], tick: []};
(function loop() { window.__b.frames++; requestAnimationFrame(loop); })();
cop.map.map.on('render', () => window.__b.renders++);
cop.events.addEventListener('update', (e) => {
  const b = window.__b, u = JSON.parse(e.data);
  b.bytes += e.data.length; b.updates++; b.changed += u.i.length;
  const newest = Math.max(...u.t.filter((t) => t !== null));
  if (isFinite(newest)) b.lat.push(Date.now() - newest);
  if (u.c) b.tick.push(Date.now() - u.c);
});
"""


def _window(driver: Any, proc: Any, seconds: float) -> dict[str, Any]:
    """Page and server figures over one window of ``seconds``."""
    driver.execute_script(
        "Object.assign(window.__b, {frames: 0, renders: 0, bytes: 0, updates: 0, changed: 0,"
        " lat: [], tick: []});"
    )
    cpu0, t0 = proc.cpu_times(), time.monotonic()
    time.sleep(seconds)
    cpu1, t1 = proc.cpu_times(), time.monotonic()
    b = driver.execute_script("return window.__b;")
    wall = t1 - t0
    cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall * 100.0
    lat, tick = sorted(b["lat"]), sorted(b["tick"])
    return {
        "seconds": round(wall, 1),
        "page_fps": round(b["frames"] / wall, 1),
        "map_redraws_per_s": round(b["renders"] / wall, 1),
        "server_cpu_pct_of_one_core": round(cpu, 1),
        "updates": b["updates"],
        "changed_sensors": b["changed"],
        "bytes_per_update": round(b["bytes"] / b["updates"]) if b["updates"] else None,
        "bytes_per_changed_sensor": round(b["bytes"] / b["changed"], 1) if b["changed"] else None,
        "reading_to_page_ms": _quantiles(lat),
        "tick_to_page_ms": _quantiles(tick),
    }


def _quantiles(ms: list[float]) -> dict[str, int] | None:
    """Median and p95 of sorted latencies (milliseconds)."""
    if not ms:
        return None
    return {"median": round(statistics.median(ms)), "p95": round(ms[int(0.95 * (len(ms) - 1))])}


def _state_bytes(server: ServeProcess) -> int:
    """Size of the ``state`` message a page gets on connecting (what a naive push resends)."""
    req = urllib.request.Request(server.url + "api/events")
    with urllib.request.urlopen(req, timeout=60) as resp:
        buf = b""
        while b"\n\n" not in buf.split(b"event: state", 1)[-1]:
            chunk = resp.read1(1 << 20)
            if not chunk:
                break
            buf += chunk
    state = buf.split(b"event: state", 1)[1].split(b"\n\n", 1)[0]
    return len(state)


def bench_web(
    workdir: Path,
    *,
    n_sensors: int = 10_000,
    n_buildings: int = 1_000,
    changed_per_s: int = 1_000,
    duration_s: float = 60.0,
    idle_s: float = 10.0,
) -> dict[str, Any]:
    """Run the web benchmark (see the module docstring); returns one JSON-able document."""
    import psutil

    from coptwin.sim.writer import append_batch

    cfg, ids = build_fixture(workdir, n_sensors, n_buildings)
    rng = np.random.default_rng(11)
    server = ServeProcess(cfg)
    try:
        proc = psutil.Process(server.pid)
        scene_plain = len(server.get("/api/scene"))
        scene_gzip = len(server.get("/api/scene", {"Accept-Encoding": "gzip"}))
        state_bytes = _state_bytes(server)
        with chromium() as driver:
            t0 = time.monotonic()
            driver.get(server.url)
            wait_for(driver, "window.cop && window.cop.ready", 300, 0.05)
            load_s = time.monotonic() - t0
            shown = driver.execute_script("return cop.s.id.length;")
            driver.execute_script(_COUNTERS)
            idle = _window(driver, proc, idle_s)
            stop = threading.Event()
            commits = {"n": 0, "ms": []}

            def writer() -> None:
                uri = str(Path(cfg).parent / "tables" / "readings")
                next_at = time.monotonic()
                while not stop.is_set():
                    pick = [ids[i] for i in rng.choice(len(ids), changed_per_s, replace=False)]
                    t = time.perf_counter()
                    append_batch(uri, _readings(pick, rng), partition_by=["date"])
                    commits["ms"].append((time.perf_counter() - t) * 1000)
                    commits["n"] += 1
                    next_at += 1.0
                    stop.wait(max(0.0, next_at - time.monotonic()))

            thread = threading.Thread(target=writer, daemon=True)
            thread.start()
            time.sleep(2.0)  # let the first commits flow before measuring
            loaded = _window(driver, proc, duration_s)
            stop.set()
            thread.join(timeout=30)
    finally:
        server.stop()
    per_update = loaded["bytes_per_update"]
    return {
        "sensors": n_sensors,
        "sensors_on_page": shown,
        "buildings": n_buildings,
        "webgl": "SwiftShader (software, CPU) in headless Chromium",
        "initial_load_s": round(load_s, 2),
        "scene_bytes": scene_plain,
        "scene_bytes_gzip": scene_gzip,
        "state_bytes": state_bytes,
        "changed_per_s": changed_per_s,
        "commits": commits["n"],
        "commit_ms_median": round(statistics.median(commits["ms"]), 1) if commits["ms"] else None,
        "idle": idle,
        "load": loaded,
        "baseline_full_state_bytes_per_update": state_bytes,
        "bytes_ratio_vs_full_state": round(state_bytes / per_update, 1) if per_update else None,
        "fps_ratio_load_vs_idle": (
            round(loaded["page_fps"] / idle["page_fps"], 2) if idle["page_fps"] else None
        ),
        "cpu_baseline_idle_pct": idle["server_cpu_pct_of_one_core"],
        "duration_s": duration_s,
        "note": "figures on a shared 2-core machine; WebGL on the CPU (no GPU)",
    }


if __name__ == "__main__":  # pragma: no cover - manual runs
    print(json.dumps(bench_web(Path("work/bench/web"), duration_s=10, idle_s=3), indent=2))
