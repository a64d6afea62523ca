"""Operators' alarms in the engine: ticks raise into the real alarms table, other writers'
acknowledgements come back, rings mark what awaits acknowledgement, time travel shows
the alarms as they were."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import timedelta

import pytest
from pxr import UsdGeom

from coptwin.alarms.model import ACK_ACTIVE, CLOSED, UNACK_ACTIVE, UNACK_RETURNED
from coptwin.alarms.store import AlarmStore
from coptwin.config import load_config
from coptwin.engine.engine import Engine
from coptwin.scene.rings import ring_path

from .conftest import T0

ALARMS = """
[tables.alarms]
path = "alarms"
"""


class Clock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def acop(cop, tmp_path):
    """The engine tests' COP with an alarms table and data-quality keys."""
    path = tmp_path / "cop.toml"
    text = path.read_text(encoding="utf-8").replace(
        "alarm_high = 35.0\n", "alarm_high = 35.0\nvalid_max = 80.0\n"
    )
    path.write_text(text + ALARMS, encoding="utf-8")
    return dataclasses.replace(cop, config=load_config(path))


def rings(engine: Engine) -> list[tuple]:
    prim = engine.stage.GetPrimAtPath(str(ring_path(engine.overlay)))
    if not prim.IsValid():
        return []
    inst = UsdGeom.PointInstancer(prim)
    pos = inst.GetPositionsAttr().Get() or []
    colours = inst.GetPrim().GetAttribute("primvars:displayColor").Get() or []
    return [
        (tuple(round(v, 3) for v in p), tuple(round(c, 3) for c in col))
        for p, col in zip(pos, colours, strict=True)
    ]


def events(acop) -> list[tuple[str, str]]:
    """(event, sensor) of every row of the alarms table, sorted (the operators' clock is
    the wall clock, the engine's the test's)."""
    table = AlarmStore(acop.config.table_uri("alarms")).read()
    return sorted(zip(table["event"].to_list(), table["sensor_id"].to_list(), strict=True))


def test_a_tick_raises_into_the_table_and_rings_the_marker_until_acknowledged(acop):
    hot, calm = acop.ids("temperature")[:2]
    clock = Clock(T0 + timedelta(seconds=5))
    engine = Engine(acop.config, clock=clock)
    engine.open()
    acop.append(
        [{"sensor_id": hot, "ts": T0, "value": 40.0}, {"sensor_id": calm, "ts": T0, "value": 20.0}]
    )
    engine.tick()
    assert events(acop) == [("raised", hot)]
    view = engine.snapshot().alarms
    [row] = view.rows
    assert (row.sensor_id, row.state, row.status, row.value) == (hot, UNACK_ACTIVE, "alarm", 40.0)
    assert row.alarm_id == f"{hot}@2026-11-27T12:00:00Z"
    assert row.reason.startswith("value 40") and "alarm_high 35" in row.reason
    assert view.unacknowledged == 1 and view.counts[UNACK_ACTIVE] == 1
    [(where, colour)] = rings(engine)
    assert where == tuple(round(v, 3) for v in engine.positions[hot])
    assert colour[0] > 0.6 > colour[2]  # the alarm's vermillion

    # Another process acknowledges (the CLI, a real subprocess); the next tick reads it.
    cli = [sys.executable, "-m", "coptwin.cli", "alarms", "ack", "-c", str(acop.root / "cop.toml")]
    done = subprocess.run(
        [*cli, "--sensor", hot, "--author", "ann", "--note", "crew out"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    engine.tick()
    [row] = engine.snapshot().alarms.rows
    assert (row.state, row.acked_by, row.ack_note) == (ACK_ACTIVE, "ann", "crew out")
    assert rings(engine) == []

    # Back to normal: acknowledged and returned is closed; a new condition is a new alarm.
    clock.t = T0 + timedelta(seconds=65)
    acop.append([{"sensor_id": hot, "ts": T0 + timedelta(seconds=60), "value": 20.0}])
    engine.tick()
    assert engine.snapshot().alarms.rows == ()
    assert engine.alarms.live.get(row.alarm_id).state(clock.t) == CLOSED
    clock.t = T0 + timedelta(seconds=125)
    acop.append([{"sensor_id": hot, "ts": T0 + timedelta(seconds=120), "value": 36.0}])
    engine.tick()
    assert events(acop) == [
        ("acknowledged", hot),
        ("raised", hot),
        ("raised", hot),
        ("returned", hot),
    ]
    engine.close()


def test_returned_unacknowledged_keeps_a_white_ring_and_repeats_count(acop):
    hot = acop.ids("temperature")[0]
    clock = Clock(T0)
    engine = Engine(acop.config, clock=clock)
    engine.open()
    for k, value in enumerate((40.0, 20.0, 41.0, 20.0)):
        clock.t = T0 + timedelta(seconds=10 * k + 1)
        acop.append([{"sensor_id": hot, "ts": T0 + timedelta(seconds=10 * k), "value": value}])
        engine.tick()
    [row] = engine.snapshot().alarms.rows
    assert (row.state, row.repeats) == (UNACK_RETURNED, 1)
    [(_, colour)] = rings(engine)
    assert colour == (1.0, 1.0, 1.0)
    assert [e for e, _ in events(acop)] == ["raised", "repeated", "returned", "returned"]
    engine.close()


def test_bad_data_is_suspect_and_raises_no_alarm(acop):
    hot = acop.ids("temperature")[0]
    engine = Engine(acop.config, clock=Clock(T0 + timedelta(seconds=5)))
    engine.open()
    acop.append([{"sensor_id": hot, "ts": T0, "value": 500.0}])
    engine.tick()
    row = next(r for r in engine.snapshot().sensors if r.sensor_id == hot)
    assert (row.status, row.reason) == ("suspect", "value 500 degC above valid_max 80 (bad data)")
    assert (
        engine.snapshot().alarms.rows == ()
        and not AlarmStore(acop.config.table_uri("alarms")).exists()
    )
    engine.close()


def test_time_travel_shows_the_alarms_as_they_were(acop):
    hot = acop.ids("temperature")[0]
    clock = Clock(T0 + timedelta(seconds=5))
    engine = Engine(acop.config, clock=clock)
    engine.open()
    acop.append([{"sensor_id": hot, "ts": T0, "value": 40.0}])
    engine.tick()
    raised_version = engine.watchers["readings"].applied_version
    store = AlarmStore(acop.config.table_uri("alarms"))
    [alarm] = store.book()
    store.acknowledge(alarm.alarm_id, "ann")  # now, i.e. after T0 + 5 s
    clock.t = T0 + timedelta(minutes=5)
    acop.append([{"sensor_id": hot, "ts": T0 + timedelta(minutes=4), "value": 20.0}])
    engine.tick()
    assert engine.snapshot().alarms.rows == ()  # acknowledged, returned: closed

    engine.set_as_of(raised_version)  # the readings as of the raise: alarm, unacknowledged
    view = engine.snapshot().alarms
    assert not view.live and not view.writable and view.at == T0
    assert [(r.sensor_id, r.state) for r in view.rows] == [(hot, UNACK_ACTIVE)]
    assert len(rings(engine)) == 1
    assert [e for e, _ in events(acop)] == ["acknowledged", "raised", "returned"]  # no new ones

    engine.set_as_of(None)
    assert engine.snapshot().alarms.rows == () and engine.snapshot().alarms.live
    assert rings(engine) == []
    engine.close()


def test_the_loop_wakes_for_a_due_alarm_delay(acop, tmp_path):
    path = acop.root / "cop.toml"
    text = path.read_text(encoding="utf-8").replace(
        "alarm_high = 35.0\n", "alarm_high = 35.0\nalarm_delay_s = 30\n"
    )
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    hot = acop.ids("temperature")[0]
    clock = Clock(T0 + timedelta(seconds=1))
    engine = Engine(config, clock=clock)
    engine.open()
    acop.append([{"sensor_id": hot, "ts": T0, "value": 40.0}])
    engine.tick()
    assert engine.snapshot().alarms.rows == ()
    assert engine.alarms.due_in(clock.t) == pytest.approx(29.0)
    clock.t = T0 + timedelta(seconds=30)
    engine.tick()  # no new reading: the delay alone raises
    assert [r.sensor_id for r in engine.snapshot().alarms.rows] == [hot]
    engine.close()


NOTIFY = """
[alarms.notify]
state_path = "notify-state.json"
retry_initial_s = 0.05
retry_max_s = 0.2
rate_per_minute = 6000

[[alarms.notify.webhooks]]
name = "ops"
url_env = "COPTWIN_TEST_OPS_URL"

[[alarms.notify.webhooks]]
name = "down"
url_env = "COPTWIN_TEST_DOWN_URL"
"""


def test_the_sending_engine_notifies_and_a_dead_destination_shows_everywhere(acop, monkeypatch):
    """A raise reaches a real local webhook receiver; a destination nobody listens on never
    blocks a tick, and shows in the status line and in `coptwin doctor`."""
    from coptwin.alarms.notify import diagnose
    from coptwin.ui.status import format_status
    from tests.alarms import receivers
    from tests.support.wait import wait_until

    path = acop.root / "cop.toml"
    path.write_text(path.read_text(encoding="utf-8") + NOTIFY, encoding="utf-8")
    config = load_config(path)
    ops = receivers.HttpReceiver().start()
    monkeypatch.setenv("COPTWIN_TEST_OPS_URL", ops.url("/ops"))
    monkeypatch.setenv("COPTWIN_TEST_DOWN_URL", f"http://127.0.0.1:{receivers.free_port()}/x")
    hot = acop.ids("temperature")[0]
    engine = Engine(config, clock=Clock(T0 + timedelta(seconds=5)), notify=True)
    try:
        engine.open()
        acop.append([{"sensor_id": hot, "ts": T0, "value": 40.0}])
        engine.tick()
        wait_until(lambda: ops.bodies(), 10, what="the raise notice")
        [body] = ops.bodies()
        assert (body["kind"], body["sensor_id"], body["state"]) == (
            "raised",
            hot,
            "unacknowledged-active",
        )
        wait_until(lambda: not engine.snapshot().alarms.notify.healthy, 10, what="the failure")
        view = engine.snapshot().alarms
        assert view.notify.failing == ("down",)
        line = format_status(engine.snapshot().status, T0, alarms=view)
        assert "notifications failing: down" in line.text and line.level == "warn"
        assert "down: ClientConnectorError" in line.details
        checks = {d.name: d for d in diagnose(config)}
        assert checks["notify: ops"].ok and "1 delivered, 0 pending" in checks["notify: ops"].detail
        assert not checks["notify: down"].ok
        assert "cannot connect" in checks["notify: down"].detail
    finally:
        engine.close()
        ops.stop()
    # The state file remembers the failure for doctor after the engine stopped.
    monkeypatch.setenv("COPTWIN_TEST_DOWN_URL", ops.url("/gone"))  # reachable now
    ops = receivers.HttpReceiver(ops.port).start()
    try:
        down = {d.name: d for d in diagnose(config)}["notify: down"]
        assert not down.ok and "failing since" in down.detail and "1 pending" in down.detail
    finally:
        ops.stop()
