"""AgingSchedule: sensors come due exactly when a time-based rule can change them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl

from coptwin.engine.aging import AgingSchedule

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def frames(ts_by_sensor: dict[str, datetime]):
    readings = pl.DataFrame(
        {"sensor_id": list(ts_by_sensor), "ts": list(ts_by_sensor.values())},
        schema={"sensor_id": pl.Utf8, "ts": pl.Datetime("us", "UTC")},
    )
    rules = pl.DataFrame(
        {
            "sensor_id": ["motion", "logger", "plain"],
            "active_for_s": [30.0, None, None],
            "stale_after_s": [600.0, 600.0, None],
            "offline_after_s": [3600.0, 3600.0, None],
        }
    )
    return readings, rules


def test_each_deadline_in_turn_and_only_once():
    aging = AgingSchedule()
    readings, rules = frames({"motion": T0, "logger": T0, "plain": T0})
    aging.schedule(readings, rules, T0)
    assert len(aging) == 2  # "plain" has no time-based rule
    assert aging.due(T0 + timedelta(seconds=29)) == []
    assert aging.due(T0 + timedelta(seconds=31)) == ["motion"]
    assert aging.due(T0 + timedelta(seconds=32)) == []  # once, until rescheduled
    aging.schedule(
        readings.filter(pl.col("sensor_id") == "motion"), rules, T0 + timedelta(seconds=31)
    )
    assert sorted(aging.due(T0 + timedelta(seconds=601))) == ["logger", "motion"]


def test_a_new_reading_postpones_the_deadline():
    aging = AgingSchedule()
    readings, rules = frames({"logger": T0})
    aging.schedule(readings, rules, T0)
    later, _ = frames({"logger": T0 + timedelta(seconds=500)})
    aging.schedule(later, rules, T0 + timedelta(seconds=500))
    assert aging.due(T0 + timedelta(seconds=601)) == []
    assert aging.due(T0 + timedelta(seconds=1101)) == ["logger"]


def test_several_rows_per_sensor_wake_it_at_the_earliest():
    aging = AgingSchedule()
    readings = pl.DataFrame(
        {"sensor_id": ["logger", "logger"], "ts": [T0, T0 + timedelta(seconds=300)]},
        schema={"sensor_id": pl.Utf8, "ts": pl.Datetime("us", "UTC")},
    )
    _, rules = frames({})
    aging.schedule(readings, rules, T0 + timedelta(seconds=300))
    assert aging.due(T0 + timedelta(seconds=601)) == ["logger"]


def test_all_deadlines_past_means_nothing_left_to_age():
    aging = AgingSchedule()
    readings, rules = frames({"logger": T0})
    aging.schedule(readings, rules, T0 + timedelta(hours=2))
    assert len(aging) == 0 and aging.due(T0 + timedelta(days=1)) == []
