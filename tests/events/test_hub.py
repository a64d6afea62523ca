"""EventHub: sources together, every valid event a hint, polling fallback while MQTT is down."""

from __future__ import annotations

import asyncio
import http.client

import pytest

from coptwin.events.hub import EventHub
from tests.support.wait import until

from .conftest import body, load_payload, make_config, retarget

KEY = "city/readings/_delta_log/00000000000000000003.json"


def post(port: int, data: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/events", body=data)
        return conn.getresponse().status
    finally:
        conn.close()


def test_webhook_events_become_hints_with_stats_and_states(prefixes):
    cfg = make_config("cop", webhook={"enabled": True, "port": 0}, polling={"enabled": False})
    payload = body(retarget(load_payload("aws_s3_put.json"), "cop", KEY))
    foreign = body(retarget(load_payload("aws_s3_put.json"), "other", KEY))

    async def main():
        hints = []
        hub = EventHub(cfg, prefixes, hints.append)
        stop = asyncio.Event()
        task = asyncio.create_task(hub.run(stop))
        await hub.wait_ready(10)
        port = hub.webhook_port
        statuses = [await asyncio.to_thread(post, port, p) for p in (payload, payload, foreign)]
        statuses.append(await asyncio.to_thread(post, port, b"nonsense"))
        states = hub.source_states
        stop.set()
        await task
        return hints, hub.stats, states, statuses, port

    hints, stats, states, statuses, port = asyncio.run(main())
    assert statuses == [200, 200, 200, 400]
    assert [(h.table, h.source) for h in hints] == [("readings", "webhook")] * 2
    assert stats["webhook"] == {
        "received": 4,
        "hints": 2,
        "malformed": 1,
        "foreign": 1,
        "ignored": 0,
    }
    assert states == {"webhook": f"listening 127.0.0.1:{port}", "polling": "standby"}


def test_broker_down_means_polling_even_when_disabled(prefixes):
    cfg = make_config(
        "cop",
        mqtt={"enabled": True, "host": "127.0.0.1", "port": 1, "client_id": "hub-down"},
        polling={"enabled": False, "interval_s": 0.05},
    )

    async def main():
        hints = []
        hub = EventHub(cfg, prefixes, hints.append)
        stop = asyncio.Event()
        task = asyncio.create_task(hub.run(stop))
        await until(lambda: hub.source_states.get("mqtt", "").startswith("disconnected"))
        await until(lambda: {h.table for h in hints} == {"readings", "sensors"})
        states = hub.source_states
        stop.set()
        await task
        return hints, states

    hints, states = asyncio.run(main())
    assert all(h.source == "polling" for h in hints)
    assert states["polling"] == "active (fallback: mqtt down)"


@pytest.mark.mqtt
def test_mqtt_connected_stops_fallback_and_broker_outage_starts_it(prefixes, mqtt_broker):
    import paho.mqtt.client as mqtt

    cfg = make_config(
        "cop",
        mqtt={
            "enabled": True,
            "host": mqtt_broker.host,
            "port": mqtt_broker.port,
            "topic": "cop/hub",
            "client_id": "hub-live",
        },
        polling={"enabled": False, "interval_s": 0.05},
    )
    payload = body(retarget(load_payload("minio_webhook_put.json"), "cop", KEY))

    def publish() -> None:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        c.connect(mqtt_broker.host, mqtt_broker.port)
        c.loop_start()
        c.publish("cop/hub", payload, qos=1).wait_for_publish(10)
        c.disconnect()
        c.loop_stop()

    async def main():
        hints = []
        hub = EventHub(cfg, prefixes, hints.append)
        stop = asyncio.Event()
        task = asyncio.create_task(hub.run(stop))
        try:
            await until(lambda: hub.source_states.get("mqtt", "").startswith("connected"))
            assert hub.source_states["polling"] == "standby"
            await asyncio.to_thread(publish)
            await until(lambda: any(h.source == "mqtt" and h.key == KEY for h in hints))
            await asyncio.to_thread(mqtt_broker.stop)
            await until(lambda: hub.source_states["polling"].startswith("active (fallback"))
            n = len(hints)
            await until(lambda: any(h.source == "polling" for h in hints[n:]))
            await asyncio.to_thread(mqtt_broker.start)
            await until(lambda: hub.source_states["polling"] == "standby", timeout=40)
        finally:
            stop.set()
            await task
            if not mqtt_broker.running:
                mqtt_broker.start()
        return hints

    hints = asyncio.run(main())
    # after reconnecting, a catch-up hint per table covers messages missed while away
    assert {h.table for h in hints if h.source == "mqtt" and h.key is None} == {
        "readings",
        "sensors",
    }
