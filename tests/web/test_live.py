"""The push: only what changed after a commit, and why a sensor has its status."""

from __future__ import annotations

import asyncio
import json

import pytest

from coptwin.engine.engine import Engine
from coptwin.web.geometry import PageGeo
from coptwin.web.live import STATUS_CODE, LiveFeed


@pytest.fixture()
def engine(demo):
    eng = Engine(demo.config)
    eng.open()
    eng.tick()
    try:
        yield eng
    finally:
        eng.close()


def _events(raw: bytes) -> list[tuple[str, dict]]:
    out = []
    for block in raw.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_a_commit_sends_only_the_sensors_it_changed(engine, demo):
    async def scenario() -> None:
        feed = LiveFeed(engine, PageGeo.from_stage(engine.stage, engine.config.scene))
        await feed.start()
        sub, state = feed.subscribe()
        (kind, doc), *_ = _events(state)
        assert kind == "state" and len(doc["sensors"]["id"]) == demo.sensors.height
        temps = [
            s
            for s, k in zip(doc["sensors"]["id"], doc["sensors"]["kind"], strict=True)
            if k == "temperature"
        ]
        demo.append(
            [{"sensor_id": temps[0], "value": 44.0, "quantity": "temperature", "unit": "degC"}]
        )
        stats = engine.tick()  # the commit calls Engine.on_commit -> feed.poke
        assert not stats.idle
        await feed._refresh()
        sent = []
        while not sub.queue.empty():
            sent += _events(sub.queue.get_nowait())
        updates = [d for k, d in sent if k == "update"]
        assert len(updates) == 1
        (u,) = updates
        assert [doc["sensors"]["id"][i] for i in u["i"]] == [temps[0]]
        assert u["s"] == [STATUS_CODE["alarm"]] and u["v"] == [44.0] and u["c"]
        # The next tick reads back the alarm event the first one appended (the alarms
        # table moved); after it, an idle tick wakes nobody.
        engine.tick()
        await feed._refresh()
        idle = engine.tick()
        assert idle.idle
        feed.poke(idle)
        assert feed._poked_at is None
        engine.on_commit.remove(feed.poke)

    asyncio.run(scenario())


def test_rows_say_why(engine, demo):
    temps = demo.sensors.filter(demo.sensors["kind"] == "temperature")["sensor_id"].to_list()
    demo.append([{"sensor_id": temps[1], "value": 36.5, "quantity": "temperature", "unit": "degC"}])
    engine.tick()
    (row,) = [r for r in engine.snapshot().sensors if r.sensor_id == temps[1]]
    assert row.status == "alarm" and row.reason == "value 36.5 degC above alarm_high 35"


def test_moving_sensors_move(engine, demo):
    async def scenario() -> None:
        feed = LiveFeed(engine, PageGeo.from_stage(engine.stage, engine.config.scene))
        await feed.start()
        sub, state = feed.subscribe()
        (_, doc), *_ = _events(state)
        i = doc["sensors"]["kind"].index("gps_tracker")
        sid = doc["sensors"]["id"][i]
        lon, lat = doc["sensors"]["lon"][i] + 0.0005, doc["sensors"]["lat"][i] + 0.0003
        demo.append(
            [
                {
                    "sensor_id": sid,
                    "value": 3.0,
                    "quantity": "speed",
                    "unit": "m/s",
                    "lon": lon,
                    "lat": lat,
                }
            ]
        )
        engine.tick()
        await feed._refresh()
        sent = []
        while not sub.queue.empty():
            sent += _events(sub.queue.get_nowait())
        (u,) = [d for k, d in sent if k == "update"]
        assert u["moved"]["i"] == [i]
        assert abs(u["moved"]["lon"][0] - lon) < 1e-6 and abs(u["moved"]["lat"][0] - lat) < 1e-6
        engine.on_commit.remove(feed.poke)

    asyncio.run(scenario())
