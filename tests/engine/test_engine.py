"""The engine end to end on real Delta tables and a real USD stage."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from pxr import Usd, UsdGeom

from coptwin.engine.engine import Engine
from coptwin.model.palette import PALETTE
from tests.support.wait import until

from .conftest import T0


def clock_at(t):
    return lambda: t


def marker(engine: Engine, sensor_id: str) -> Usd.Prim:
    prim = engine.stage.GetPrimAtPath(str(engine.overlay.marker_path(sensor_id)))
    assert prim.IsValid(), sensor_id
    return prim


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_first_tick_colours_markers_and_writes_attributes(cop):
    temps = cop.ids("temperature")
    cop.append(
        [
            {"sensor_id": temps[0], "ts": T0, "value": 21.0},
            {"sensor_id": temps[1], "ts": T0, "value": 30.0},
            {"sensor_id": temps[2], "ts": T0, "value": 40.0},
        ]
    )
    engine = Engine(cop.config, clock=clock_at(T0 + timedelta(seconds=5)))
    engine.open()
    stats = engine.tick()
    assert stats.rows_read == 3 and stats.rows_applied == 3
    expected = {temps[0]: "ok", temps[1]: "warn", temps[2]: "alarm", temps[3]: "unknown"}
    for sid, status in expected.items():
        prim = marker(engine, sid)
        assert prim.GetAttribute("coptwin:status").Get() == status
        assert tuple(prim.GetAttribute("primvars:displayColor").Get()[0]) == pytest.approx(
            PALETTE[status], abs=1e-6
        )
    assert marker(engine, temps[2]).GetAttribute("coptwin:value").Get() == 40.0
    assert marker(engine, temps[2]).GetAttribute("coptwin:sensorId").Get() == temps[2]
    snap = {s.sensor_id: s for s in engine.snapshot().sensors}
    assert snap[temps[1]].status == "warn" and snap[temps[1]].value == 30.0
    # Each row says why it has its status (the detail view shows it).
    hot = snap[temps[2]].reason
    assert hot.startswith("value 40") and "above alarm_high" in hot
    assert snap[temps[3]].reason == "no reading of temperature yet"
    # The roof sensor's building carries the live value in the overlay.
    bound = snap[temps[2]].bound_prim
    assert bound, "roof sensors bind to their building"
    building = engine.stage.GetPrimAtPath(bound)
    assert building.GetAttribute("coptwin:temperature").Get() == 40.0
    assert building.GetAttribute("coptwin:status").Get() == "alarm"
    engine.close()


def test_later_ticks_read_only_the_new_version(cop):
    temps = cop.ids("temperature")
    cop.append([{"sensor_id": s, "ts": T0, "value": 20.0} for s in temps])
    engine = Engine(cop.config, clock=clock_at(T0 + timedelta(seconds=5)))
    engine.open()
    first = engine.tick()
    assert first.rows_read == len(temps)
    cop.append([{"sensor_id": temps[0], "ts": T0 + timedelta(seconds=1), "value": 36.0}])
    second = engine.tick()
    assert second.rows_read == 1
    assert second.changed == 1
    assert marker(engine, temps[0]).GetAttribute("coptwin:status").Get() == "alarm"
    assert marker(engine, temps[1]).GetAttribute("coptwin:status").Get() == "ok"
    idle = engine.tick()
    assert idle.rows_read == 0 and idle.changed == 0
    engine.close()


def test_bad_rows_are_counted_and_the_rest_applies(cop):
    temps = cop.ids("temperature")
    cop.append(
        [
            {"sensor_id": temps[0], "ts": T0, "value": 22.0},
            {"sensor_id": "NO-SUCH-SENSOR", "ts": T0, "value": 22.0},
            {"sensor_id": None, "ts": T0, "value": 22.0},
            {"sensor_id": temps[1], "ts": None, "value": 22.0},
            {"sensor_id": temps[2], "ts": T0, "value": float("nan")},
            {"sensor_id": temps[3], "ts": T0 + timedelta(days=3), "value": 22.0},
        ]
    )
    engine = Engine(cop.config, clock=clock_at(T0 + timedelta(seconds=5)))
    stats = engine.tick()
    assert stats.rows_applied == 1
    assert stats.skipped == {
        "unknown_sensor": 1,
        "null_sensor_id": 1,
        "null_ts": 1,
        "bad_value": 1,
        "future_ts": 1,
    }
    assert engine.snapshot().status.rows_skipped == stats.skipped
    assert marker(engine, temps[0]).GetAttribute("coptwin:value").Get() == 22.0
    engine.close()


def test_status_ages_to_stale_and_offline_without_new_data(cop):
    temps = cop.ids("temperature")
    cop.append([{"sensor_id": temps[0], "ts": T0, "value": 20.0}])
    now = [T0 + timedelta(seconds=10)]
    engine = Engine(cop.config, clock=lambda: now[0])
    engine.tick()
    assert marker(engine, temps[0]).GetAttribute("coptwin:status").Get() == "ok"
    now[0] = T0 + timedelta(minutes=11)
    engine.tick()
    assert marker(engine, temps[0]).GetAttribute("coptwin:status").Get() == "stale"
    now[0] = T0 + timedelta(hours=2)
    engine.tick()
    assert marker(engine, temps[0]).GetAttribute("coptwin:status").Get() == "offline"
    engine.close()


def test_time_travel_by_version_and_back_to_live(cop):
    s = cop.ids("temperature")[0]
    cop.append([{"sensor_id": s, "ts": T0, "value": 10.0}])
    cop.append([{"sensor_id": s, "ts": T0 + timedelta(minutes=1), "value": 40.0}])
    engine = Engine(cop.config, clock=clock_at(T0 + timedelta(minutes=2)))
    engine.tick()
    assert marker(engine, s).GetAttribute("coptwin:value").Get() == 40.0
    v_first = engine.watchers["readings"].applied_version - 1
    engine.set_as_of(v_first)
    assert marker(engine, s).GetAttribute("coptwin:value").Get() == 10.0
    snap = engine.snapshot()
    assert snap.status.as_of == v_first and not snap.status.live
    # New data while pinned does not move the COP.
    cop.append([{"sensor_id": s, "ts": T0 + timedelta(minutes=1, seconds=30), "value": 33.0}])
    engine.tick()
    assert marker(engine, s).GetAttribute("coptwin:value").Get() == 10.0
    engine.set_as_of(None)
    assert marker(engine, s).GetAttribute("coptwin:value").Get() == 33.0
    assert engine.snapshot().status.live
    engine.close()


def test_time_travel_by_timestamp(cop):
    s = cop.ids("temperature")[0]
    cop.append([{"sensor_id": s, "ts": T0, "value": 10.0}])
    engine = Engine(cop.config, clock=clock_at(T0 + timedelta(minutes=2)))
    engine.tick()
    between = T0 + timedelta(seconds=30)  # the fixture dates commits in its own world
    cop.append([{"sensor_id": s, "ts": T0 + timedelta(minutes=1), "value": 40.0}])
    engine.tick()
    engine.set_as_of(between)
    assert marker(engine, s).GetAttribute("coptwin:value").Get() == 10.0
    engine.close()


def test_layer_toggle_reaches_the_stage(cop):
    engine = Engine(cop.config, clock=clock_at(T0))
    engine.open()
    layers = engine.stage.GetPrimAtPath("/COP/Sensors").GetChildren()
    layer_prim = next(p for p in layers if p.GetAttribute("coptwin:layer").Get() == "security")
    assert UsdGeom.Imageable(layer_prim).ComputeVisibility() == UsdGeom.Tokens.inherited
    engine.set_layer_visible("security", False)
    assert UsdGeom.Imageable(layer_prim).ComputeVisibility() == UsdGeom.Tokens.invisible
    rows = {r.name: r for r in engine.snapshot().layers}
    assert rows["security"].visible is False and rows["environment"].visible is True
    engine.set_layer_visible("security", True)
    assert UsdGeom.Imageable(layer_prim).ComputeVisibility() == UsdGeom.Tokens.inherited
    engine.close()


def test_base_scene_is_never_written_and_export_opens(cop, tmp_path):
    city = tmp_path / "city-copy"
    shutil.copytree(cop.city_dir, city)
    before = digest(city)
    from coptwin.scene.citygen import CityInfo

    info = CityInfo.load(city)
    engine = Engine(cop.config, stage=Usd.Stage.Open(str(info.root_layer)), clock=clock_at(T0))
    cop.append([{"sensor_id": cop.ids("temperature")[0], "ts": T0, "value": 30.0}])
    engine.tick()
    engine.export(tmp_path / "out" / "overlay.usda", tmp_path / "out" / "cop.usda")
    engine.stage.Save()  # even a careless save must not touch the base files
    engine.close()
    assert digest(city) == before
    cop_stage = Usd.Stage.Open(str(tmp_path / "out" / "cop.usda"))
    sid = cop.ids("temperature")[0]
    markers = [p for p in cop_stage.Traverse() if p.GetAttribute("coptwin:sensorId").Get() == sid]
    assert markers and markers[0].GetAttribute("coptwin:status").Get() == "warn"
    assert cop_stage.GetPrimAtPath(f"/{info.name}/Buildings").IsValid()


def test_moving_tracker_updates_its_position(cop):
    tracker = cop.ids("gps_tracker")[0]
    row = cop.sensors.filter(cop.sensors["sensor_id"] == tracker).row(0, named=True)
    engine = Engine(cop.config, clock=clock_at(T0 + timedelta(seconds=5)))
    engine.open()
    start = engine.snapshot()
    before = {s.sensor_id: s for s in start.sensors}[tracker].position
    cop.append(
        [
            {
                "sensor_id": tracker,
                "ts": T0,
                "value": 5.0,
                "quantity": "speed",
                "lon": row["lon"] + 0.0005,
                "lat": row["lat"],
            }
        ]
    )
    engine.tick()
    after = {s.sensor_id: s for s in engine.snapshot().sensors}[tracker].position
    assert after is not None and before is not None
    dx = after[0] - before[0]
    assert 30.0 < dx < 50.0, (before, after)  # 0.0005° of longitude at 45°N is ~39 m east
    engine.close()


def test_run_loop_follows_hints_and_survives_a_storage_outage(cop):
    s = cop.ids("temperature")[0]
    cop.append([{"sensor_id": s, "ts": T0, "value": 20.0}])
    engine = Engine(cop.config, clock=clock_at(T0 + timedelta(seconds=5)))
    readings = Path(cop.config.table_uri("readings"))

    async def scenario():
        stop = asyncio.Event()
        task = asyncio.create_task(engine.run(stop))

        await until(lambda: engine.snapshot().status.connection == "connected")
        await until(lambda: engine.running.rows_read >= 1)
        # Storage goes away: the engine reports why and keeps running.
        hidden = readings.with_name("readings-away")
        readings.rename(hidden)
        engine.request_check("readings")
        await until(lambda: engine.snapshot().status.connection == "disconnected")
        assert engine.snapshot().status.reason
        hidden.rename(readings)
        cop.append([{"sensor_id": s, "ts": T0 + timedelta(seconds=1), "value": 36.0}])
        engine.request_check("readings")
        await until(lambda: engine.snapshot().status.connection == "connected", timeout=40)
        await until(
            lambda: marker(engine, s).GetAttribute("coptwin:status").Get() == "alarm", timeout=40
        )
        stop.set()
        await task

    asyncio.run(scenario())
    assert engine.running.rows_read == 2
    engine.close()


def test_note_written_elsewhere_appears_as_a_pin(cop):
    from coptwin.annotations.store import AnnotationStore
    from coptwin.scene import pins

    s = cop.ids("temperature")[0]
    engine = Engine(cop.config, clock=clock_at(T0))
    engine.tick()  # no annotations table yet: no pins, no error
    event = AnnotationStore.from_config(cop.config).add(
        f"sensor:{s}", "reads high since the roof work", "reviewer-a"
    )
    engine.tick()
    pin = engine.stage.GetPrimAtPath(str(pins.pin_path(engine.overlay, event.annotation_id)))
    assert pin.IsValid()
    assert pin.GetAttribute("coptwin:text").Get() == "reads high since the roof work"
    assert pin.GetAttribute("coptwin:author").Get() == "reviewer-a"
    engine.set_annotations_visible(False)
    scope = engine.stage.GetPrimAtPath(str(pins.scope_path(engine.overlay)))
    assert UsdGeom.Imageable(scope).ComputeVisibility() == UsdGeom.Tokens.invisible
    engine.close()


def test_a_sensor_registered_later_is_placed_and_drawn(cop):
    import polars as pl

    from coptwin.sim.feed import write_sensors

    engine = Engine(cop.config, clock=clock_at(T0))
    engine.tick()
    assert engine.overlay.marker_path("NEW-0001") is None
    extra = cop.sensors.head(1).with_columns(
        pl.lit("NEW-0001").alias("sensor_id"), pl.lit("new logger").alias("name")
    )
    write_sensors(cop.config, pl.concat([cop.sensors, extra]))
    cop.append([{"sensor_id": "NEW-0001", "ts": T0, "value": 36.0}])
    engine.tick()
    engine.tick()
    assert marker(engine, "NEW-0001").GetAttribute("coptwin:status").Get() == "alarm"
    assert len(engine.snapshot().sensors) == cop.sensors.height + 1
    engine.close()


def test_cold_start_keeps_only_rows_the_state_can_use(cop):
    s = cop.ids("temperature")[0]
    rows = [
        {"sensor_id": s, "ts": T0 + timedelta(seconds=i), "value": float(i)} for i in range(300)
    ]
    rows.append({"sensor_id": None, "ts": T0, "value": 1.0})  # still counted as bad
    rows.append({"sensor_id": s, "ts": T0, "value": 5.0, "quantity": "humidity"})
    cop.append(rows)
    engine = Engine(cop.config, clock=clock_at(T0 + timedelta(minutes=10)))
    stats = engine.tick()
    assert stats.full_reload and stats.skipped == {"null_sensor_id": 1}
    assert stats.rows_read == cop.config.engine.history_per_sensor + 2
    assert marker(engine, s).GetAttribute("coptwin:value").Get() == 299.0
    history = engine.history(s)
    assert len(history) == cop.config.engine.history_per_sensor
    assert history[-1][1] == 299.0
    # The other quantity's latest reading survives the cut on the bound building.
    row = {r.sensor_id: r for r in engine.snapshot().sensors}[s]
    building = engine.stage.GetPrimAtPath(row.bound_prim)
    assert building.GetAttribute("coptwin:humidity").Get() == 5.0
    engine.close()


def test_run_once_and_as_of_from_the_command_line(cop, capsys):
    from coptwin.cli import main

    s = cop.ids("temperature")[0]
    cop.append([{"sensor_id": s, "ts": T0, "value": 10.0}])
    cop.append([{"sensor_id": s, "ts": T0 + timedelta(minutes=1), "value": 40.0}])
    out = cop.root / "out" / "overlay.usda"
    config = str(cop.root / "cop.toml")
    assert main(["run", "--config", config, "--once", "--out", str(out)]) == 0
    assert "rows read: 2" in capsys.readouterr().out
    assert main(["run", "--config", config, "--as-of", "0", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "NOT LIVE: the COP as of version 0" in printed
    stage = Usd.Stage.Open(str(out.with_name("cop.usda")))
    values = [
        p.GetAttribute("coptwin:value").Get()
        for p in stage.Traverse()
        if p.GetAttribute("coptwin:sensorId").Get() == s
    ]
    assert values == [10.0]
    try:
        code = main(["run", "--config", config, "--as-of", "yesterday"])
    except SystemExit as exc:  # argparse's own exit
        code = exc.code
    assert code == 2
    assert "is neither a table version (e.g. 12 or v12) nor a UTC date" in capsys.readouterr().err


def test_motion_goes_idle_after_its_active_window_without_new_data(cop):
    import polars as pl

    from coptwin.config import load_config

    text = (cop.root / "cop.toml").read_text(encoding="utf-8")
    text += '\n[rules.motion]\nactive_for_s = 30\nstates = { "1" = "warn", "0" = "ok" }\n'
    (cop.root / "cop.toml").write_text(text, encoding="utf-8")
    cop.config = load_config(cop.root / "cop.toml")
    m = cop.sensors.filter(pl.col("kind") == "motion")["sensor_id"][0]
    cop.append([{"sensor_id": m, "ts": T0, "value": 1.0, "quantity": "motion"}])
    now = [T0 + timedelta(seconds=5)]
    engine = Engine(cop.config, clock=lambda: now[0])
    engine.tick()
    assert marker(engine, m).GetAttribute("coptwin:status").Get() == "warn"
    now[0] = T0 + timedelta(seconds=20)
    assert engine.tick().changed == 0  # nothing due yet: no work
    now[0] = T0 + timedelta(seconds=31)
    assert engine.tick().changed == 1
    assert marker(engine, m).GetAttribute("coptwin:status").Get() == "ok"
    engine.close()


def test_a_snapshot_names_the_rows_a_tick_changed_and_keeps_its_own_picture(cop):
    """Issues 11.7 and 14: a snapshot only takes references under the engine's lock, so a
    later tick must not change it; views redraw the rows changed since their revision."""
    temps = cop.ids("temperature")
    cop.append([{"sensor_id": t, "ts": T0, "value": 21.0} for t in temps[:3]])
    engine = Engine(cop.config, clock=clock_at(T0 + timedelta(seconds=5)))
    engine.tick()
    before = engine.snapshot()
    old = before.sensors.row_of(temps[1])
    cop.append([{"sensor_id": temps[1], "ts": T0 + timedelta(seconds=1), "value": 40.0}])
    engine.tick()
    after = engine.snapshot()
    changed = after.sensors.changed_since(before.sensors.revision)
    assert [after.sensors[i].sensor_id for i in changed] == [temps[1]]
    assert after.sensors.row_of(temps[1]).status == "alarm"
    assert after.sensors.row_of(temps[1]).value == 40.0
    # the earlier snapshot still shows its moment
    assert before.sensors.row_of(temps[1]) == old and old.status == "ok" and old.value == 21.0
    assert before.sensors.row_of(temps[0]) is after.sensors.row_of(temps[0])  # unchanged: reused
    counts = {layer.name: layer.counts for layer in after.layers}
    assert counts["environment"]["alarm"] == 1
