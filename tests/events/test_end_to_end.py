"""Live updates end to end on SeaweedFS: real commits, real filer events, the real engine.

Simulator-style appends (write_deltalake to S3 with coptwin's storage options)
reach the overlay through the filer webhook, through polling when the receiver
is down, through MQTT, and survive an S3 outage without losing a committed row.
"""

from __future__ import annotations

import asyncio
import functools
import http.client
import json
from datetime import datetime, timezone
from typing import Any

import paho.mqtt.client as mqtt
import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake
from pxr import Usd, UsdGeom

from coptwin.config import config_from_dict
from coptwin.engine.engine import Engine
from coptwin.storage import delta_storage_options
from tests.support import wait

from .conftest import body, load_payload, retarget

pytestmark = pytest.mark.s3

N = 5
IDS = [f"s{i}" for i in range(N)]


def stage() -> Usd.Stage:
    st = Usd.Stage.CreateInMemory()
    UsdGeom.SetStageUpAxis(st, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(st, 1.0)
    ground = UsdGeom.Mesh.Define(st, "/World/Terrain")
    ground.CreatePointsAttr([(-500, -500, 0), (500, -500, 0), (500, 500, 0), (-500, 500, 0)])
    ground.CreateFaceVertexCountsAttr([4])
    ground.CreateFaceVertexIndicesAttr([0, 1, 2, 3])
    return st


def readings(value: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "sensor_id": IDS,
            "ts": [datetime.now(timezone.utc)] * N,
            "value": [value] * N,
            "quantity": ["temperature"] * N,
            "unit": ["degC"] * N,
        }
    ).with_columns(pl.col("ts").dt.cast_time_unit("us"))


class Setup:
    """A bucket with sensors + readings tables and a config builder for it."""

    def __init__(self, s3, monkeypatch, **events: Any) -> None:
        for k, v in s3.env().items():
            monkeypatch.setenv(k, v)
        self.s3 = s3
        self.bucket = s3.new_bucket("e2e")
        self.cfg = config_from_dict(
            {
                "storage": {
                    "uri": f"s3://{self.bucket}/cop",
                    "endpoint": s3.endpoint,
                    "allow_http": True,
                },
                "tables": {"readings": {"path": "readings"}, "sensors": {"path": "sensors"}},
                "scene": {"enu_origin": {"lat": 45.0, "lon": -75.0}, "ground_elevation_m": 0.0},
                "events": events,
            }
        )
        self.opts = delta_storage_options(self.cfg.storage)
        self.uri = self.cfg.table_uri("readings")
        sensors = pl.DataFrame(
            {
                "sensor_id": IDS,
                "kind": ["temperature"] * N,
                "lon": [-75.0 + 0.0001 * i for i in range(N)],
                "lat": [45.0] * N,
            }
        )
        write_deltalake(self.cfg.table_uri("sensors"), sensors, storage_options=self.opts)
        write_deltalake(self.uri, readings(0.0), storage_options=self.opts)
        self.rows = N
        self.engine = Engine(self.cfg, stage=stage())

    def append(self, value: float) -> int:
        write_deltalake(self.uri, readings(value), mode="append", storage_options=self.opts)
        self.rows += N
        return DeltaTable(self.uri, storage_options=self.opts).version()

    def values(self) -> set[float | None]:
        return {row.value for row in self.engine.snapshot().sensors}


#: S3 round trips make these waits longer than the default.
until = functools.partial(wait.until, timeout=30.0)


def version(engine: Engine) -> int:
    return engine.snapshot().status.versions.get("readings", -1)


async def running(setup: Setup, body_fn) -> Any:
    stop = asyncio.Event()
    task = asyncio.create_task(setup.engine.run(stop))
    try:
        await until(lambda: version(setup.engine) >= 0)
        return await body_fn()
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        setup.engine.close()


def post(port: int, data: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/events", body=data)
        return conn.getresponse().status
    finally:
        conn.close()


def test_filer_webhook_events_update_the_overlay_and_bad_events_change_nothing(
    s3_running, monkeypatch
):
    setup = Setup(
        s3_running, monkeypatch, webhook={"enabled": True, "port": 0}, polling={"enabled": False}
    )

    async def scenario():
        hub = setup.engine.hub
        await hub.wait_ready(10)
        s3_running.webhook_target = f"http://127.0.0.1:{hub.webhook_port}/events"
        for i in range(1, 4):
            v = await asyncio.to_thread(setup.append, float(i))
            await until(lambda v=v: version(setup.engine) >= v)
            assert setup.values() == {float(i)}
        # malformed and repeated events: answered, counted, never re-applied
        key = "cop/readings/_delta_log/00000000000000000003.json"
        dup = body(retarget(load_payload("aws_s3_put.json"), setup.bucket, key))
        ticks = setup.engine.running.ticks
        codes = [await asyncio.to_thread(post, hub.webhook_port, b) for b in (dup, dup, b"{x")]
        # the repeated events make the engine check again (and find nothing new)
        await until(lambda: setup.engine.running.ticks > ticks)
        return hub.stats["webhook"], codes

    stats, codes = asyncio.run(running(setup, scenario))
    assert codes == [200, 200, 400]
    assert stats["hints"] >= 5 and stats["malformed"] == 1
    assert setup.engine.running.rows_read == setup.rows  # every row read exactly once


def test_receiver_down_polling_catches_up(s3_running, monkeypatch):
    setup = Setup(
        s3_running,
        monkeypatch,
        webhook={"enabled": True, "port": 0},
        polling={"enabled": True, "interval_s": 0.2},
    )

    async def scenario():
        s3_running.webhook_target = None  # the filer's events go nowhere
        last = 0
        for i in range(1, 4):
            last = await asyncio.to_thread(setup.append, float(i))
        await until(lambda: version(setup.engine) >= last)
        return setup.engine.hub.stats.get("webhook", {}).get("received", 0), setup.values()

    received, values = asyncio.run(running(setup, scenario))
    assert received == 0 and values == {3.0}
    assert setup.engine.running.rows_read == setup.rows


def test_s3_outage_and_recovery_loses_no_committed_row(s3_running, monkeypatch):
    setup = Setup(s3_running, monkeypatch, polling={"enabled": True, "interval_s": 0.2})

    async def scenario():
        await asyncio.to_thread(setup.append, 1.0)
        await asyncio.to_thread(s3_running.stop)
        await until(lambda: setup.engine.snapshot().status.connection == "disconnected")
        reason = setup.engine.snapshot().status.reason
        await asyncio.to_thread(s3_running.start)
        last = 0
        for i in range(2, 5):
            last = await asyncio.to_thread(setup.append, float(i))
        await until(lambda: version(setup.engine) >= last, timeout=90)
        # the version is recorded while reading; "connected" once the overlay is written
        await until(lambda: setup.engine.snapshot().status.connection == "connected")
        return reason, setup.engine.snapshot().status.connection, setup.values()

    reason, connection, values = asyncio.run(running(setup, scenario))
    assert reason and s3_running.secret_key not in reason
    assert connection == "connected"
    assert values == {4.0}
    assert setup.engine.running.rows_read == setup.rows


@pytest.mark.mqtt
def test_mqtt_records_update_the_overlay(s3_running, mqtt_broker, monkeypatch):
    topic = "cop/e2e"
    setup = Setup(
        s3_running,
        monkeypatch,
        mqtt={
            "enabled": True,
            "host": mqtt_broker.host,
            "port": mqtt_broker.port,
            "topic": topic,
            "client_id": "coptwin-e2e",
        },
        polling={"enabled": False},
    )
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect(mqtt_broker.host, mqtt_broker.port)
    pub.loop_start()

    async def scenario():
        hub = setup.engine.hub
        await until(lambda: hub.source_states.get("mqtt", "").startswith("connected"))
        for i in range(1, 4):
            v = await asyncio.to_thread(setup.append, float(i))
            key = f"cop/readings/_delta_log/{v:020d}.json"
            doc = retarget(load_payload("minio_webhook_put.json"), setup.bucket, key)
            pub.publish(topic, json.dumps(doc).encode(), qos=1).wait_for_publish(10)
            await until(lambda v=v: version(setup.engine) >= v)
        return hub.stats["mqtt"], setup.values()

    try:
        stats, values = asyncio.run(running(setup, scenario))
    finally:
        pub.disconnect()
        pub.loop_stop()
    assert stats["hints"] >= 3 and stats["malformed"] == 0
    assert values == {3.0}
