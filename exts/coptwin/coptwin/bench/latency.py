"""Commit-to-overlay latency on a local SeaweedFS: webhook path vs polling at 1 s.

What a user feels is the time from a sensor's Delta commit becoming visible to
the marker changing in the COP.  The benchmark starts its own ``weed mini``
(filer webhook pointed at the engine's receiver), appends ``commits`` small
versions to a readings table, and for each one measures the time from
``write_deltalake`` returning to the engine's overlay showing that version.

Aims (issue 4): webhook p50 <= 300 ms and p95 <= 1 s; polling p50 <= interval/2 + 300 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl

from coptwin.config import Config, config_from_dict

BUCKET = "coptwin-bench"
N_SENSORS = 20
POLL_INTERVAL_S = 1.0
#: Give up on one commit after this long (counted as a miss, never hangs the run).
COMMIT_TIMEOUT_S = 15.0


def _percentiles(samples_ms: list[float]) -> dict[str, Any]:
    import numpy as np

    if not samples_ms:
        return {"n": 0}
    arr = np.asarray(samples_ms)
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 1),
        "p95_ms": round(float(np.percentile(arr, 95)), 1),
        "max_ms": round(float(arr.max()), 1),
        "n": int(arr.size),
    }


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    """Credentials for the engine, via the env variables the default config names."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _config(endpoint: str, base: Path, mode: str, webhook_port: int) -> Config:
    events: dict[str, Any] = {}
    if mode == "webhook":
        events["webhook"] = {"enabled": True, "host": "127.0.0.1", "port": webhook_port}
        events["polling"] = {"enabled": False}
    else:
        events["polling"] = {"enabled": True, "interval_s": POLL_INTERVAL_S, "jitter": 0.0}
    data = {
        "storage": {"uri": f"s3://{BUCKET}/bench", "endpoint": endpoint, "allow_http": True},
        "tables": {"readings": {"path": "readings"}, "sensors": {"path": "sensors"}},
        "scene": {"enu_origin": {"lat": 45.42, "lon": -75.69}, "ground_elevation_m": 0.0},
        "rules": {"temperature": {"quantity": "temperature", "warn_high": 30.0}},
        "events": events,
        "engine": {"overlay_path": str(base / f"overlay-{mode}.usda")},
    }
    return config_from_dict(data, source="<bench latency>", base_dir=base)


def _sensors() -> pl.DataFrame:
    ids = [f"t{i:03d}" for i in range(N_SENSORS)]
    return pl.DataFrame(
        {
            "sensor_id": ids,
            "name": ids,
            "kind": ["temperature"] * N_SENSORS,
            "lon": [-75.69 + 0.0001 * i for i in range(N_SENSORS)],
            "lat": [45.42] * N_SENSORS,
            "mount": ["ground"] * N_SENSORS,
        }
    )


def _readings(i: int) -> pl.DataFrame:
    now = datetime.now(timezone.utc)
    ids = [f"t{k:03d}" for k in range(N_SENSORS)]
    return pl.DataFrame(
        {
            "sensor_id": ids,
            "ts": [now] * N_SENSORS,
            "value": [20.0 + (i % 15)] * N_SENSORS,
            "quantity": ["temperature"] * N_SENSORS,
            "unit": ["degC"] * N_SENSORS,
        }
    ).with_columns(pl.col("ts").dt.cast_time_unit("us"))


def _stage() -> Any:
    """A flat 2 km ground square, Z-up, metres: the benchmark measures events, not geometry."""
    from pxr import Usd, UsdGeom

    stage = Usd.Stage.CreateInMemory()
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    UsdGeom.Xform.Define(stage, "/World")
    ground = UsdGeom.Mesh.Define(stage, "/World/Terrain")
    h = 1000.0
    ground.CreatePointsAttr([(-h, -h, 0.0), (h, -h, 0.0), (h, h, 0.0), (-h, h, 0.0)])
    ground.CreateFaceVertexCountsAttr([4])
    ground.CreateFaceVertexIndicesAttr([0, 1, 2, 3])
    return stage


async def _measure(
    engine: Any, uri: str, opts: dict[str, str], commits: int, spread_s: float
) -> dict[str, Any]:
    """``spread_s``: random pause before each commit, so commits fall at random poll phases."""
    from deltalake import DeltaTable, write_deltalake

    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    samples: list[float] = []
    misses = 0
    try:
        # Warm up: the engine has opened and applied the current version.
        current = DeltaTable(uri, storage_options=opts).version()
        if not await _wait_version(engine, current, 60.0):
            status = engine.snapshot().status
            raise RuntimeError(f"engine did not come up: {status.connection} {status.reason}")
        for i in range(commits):
            await asyncio.sleep(random.uniform(0.0, spread_s))
            frame = _readings(i)
            await asyncio.to_thread(
                write_deltalake, uri, frame, mode="append", storage_options=opts
            )
            t0 = time.perf_counter()
            current += 1
            if await _wait_version(engine, current, COMMIT_TIMEOUT_S):
                samples.append((time.perf_counter() - t0) * 1000.0)
            else:
                misses += 1
        hub = getattr(engine, "hub", None)
        events = hub.stats if hub is not None else {}
    finally:
        stop.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(task, 30)
    return {**_percentiles(samples), "missed": misses, "event_stats": events}


async def _wait_version(engine: Any, version: int, timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        snap = engine.snapshot()
        if snap.status.versions.get("readings", -1) >= version:
            return True
        await asyncio.sleep(0.002)
    return False


def bench_latency(commits: int = 50, work_dir: Path | None = None) -> dict[str, Any]:
    """Commit-to-overlay latency p50/p95 (ms) for the webhook path and for 1 s polling.

    Needs a development checkout (``uv sync``): the local SeaweedFS launcher is test
    support (``tests.support.servers``), not part of the shipped package.
    """
    from deltalake import write_deltalake

    from coptwin.engine.engine import Engine

    try:
        from tests.support.servers import LocalSeaweed, free_ports
    except ImportError:
        raise RuntimeError(
            "the latency suite starts a local SeaweedFS with the test support package "
            "(tests.support.servers): run it from a development checkout (uv sync)"
        ) from None

    with contextlib.ExitStack() as stack:
        base = (
            Path(work_dir) if work_dir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        )
        base.mkdir(parents=True, exist_ok=True)
        port = free_ports(1)[0]
        server = LocalSeaweed(base / "seaweedfs", webhook_url=f"http://127.0.0.1:{port}/events")
        stack.enter_context(server)
        server.create_bucket(BUCKET)
        stack.enter_context(_env(server.env()))
        opts = server.storage_options()
        root = f"s3://{BUCKET}/bench"
        write_deltalake(f"{root}/sensors", _sensors(), storage_options=opts)
        write_deltalake(f"{root}/readings", _readings(0), storage_options=opts)
        out: dict[str, Any] = {"commits": commits, "sensors": N_SENSORS}
        for mode in ("webhook", "polling"):
            cfg = _config(server.endpoint, base, mode, port)
            engine = Engine(cfg, stage=_stage())
            try:
                spread = 0.1 if mode == "webhook" else POLL_INTERVAL_S
                result = asyncio.run(_measure(engine, f"{root}/readings", opts, commits, spread))
            finally:
                engine.close()
            key = "webhook" if mode == "webhook" else f"polling_{POLL_INTERVAL_S:g}s"
            out[key] = result
        web, poll = out["webhook"], out[f"polling_{POLL_INTERVAL_S:g}s"]
        out["aims"] = {
            "webhook_p50_le_300ms": web.get("p50_ms", 1e9) <= 300,
            "webhook_p95_le_1000ms": web.get("p95_ms", 1e9) <= 1000,
            "polling_p50_le_interval_half_plus_300ms": poll.get("p50_ms", 1e9)
            <= POLL_INTERVAL_S * 500 + 300,
        }
        return out
