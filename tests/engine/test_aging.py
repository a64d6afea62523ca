"""AgingSchedule: sensors come due exactly when a time-based rule can change them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl

from coptwin.engine.aging import AgingSchedule
from coptwin.model.state import NO_TS

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
#: registry order: 0 motion, 1 logger, 2 plain
MOTION, LOGGER, PLAIN = 0, 1, 2
RULES = pl.DataFrame(
    {
        "sensor_id": ["motion", "logger", "plain"],
        "active_for_s": [30.0, None, None],
        "stale_after_s": [600.0, 600.0, None],
        "offline_after_s": [3600.0, 3600.0, None],
    }
)


def us(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000)


def schedule(aging: AgingSchedule, readings: dict[int, datetime | None], now: datetime) -> None:
    idx = np.array(list(readings), dtype=np.int64)
    ts = np.array([NO_TS if t is None else us(t) for t in readings.values()], dtype=np.int64)
    aging.schedule(idx, ts, now)


def test_each_deadline_in_turn_and_only_once():
    aging = AgingSchedule(RULES)
    schedule(aging, {MOTION: T0, LOGGER: T0, PLAIN: T0}, T0)
    assert len(aging) == 2  # "plain" has no time-based rule
    assert aging.due(T0 + timedelta(seconds=29)).tolist() == []
    assert aging.due(T0 + timedelta(seconds=31)).tolist() == [MOTION]
    assert aging.due(T0 + timedelta(seconds=32)).tolist() == []  # once, until rescheduled
    schedule(aging, {MOTION: T0}, T0 + timedelta(seconds=31))
    assert aging.due(T0 + timedelta(seconds=601)).tolist() == [MOTION, LOGGER]


def test_a_new_reading_postpones_the_deadline():
    aging = AgingSchedule(RULES)
    schedule(aging, {LOGGER: T0}, T0)
    schedule(aging, {LOGGER: T0 + timedelta(seconds=500)}, T0 + timedelta(seconds=500))
    assert aging.due(T0 + timedelta(seconds=601)).tolist() == []
    assert aging.due(T0 + timedelta(seconds=1101)).tolist() == [LOGGER]


def test_no_reading_and_all_deadlines_past_mean_nothing_left_to_age():
    aging = AgingSchedule(RULES)
    schedule(aging, {LOGGER: T0, MOTION: None}, T0 + timedelta(hours=2))
    assert len(aging) == 0 and aging.due(T0 + timedelta(days=1)).tolist() == []


def test_clear_forgets_every_deadline():
    aging = AgingSchedule(RULES)
    schedule(aging, {MOTION: T0, LOGGER: T0}, T0)
    aging.clear()
    assert len(aging) == 0 and aging.due(T0 + timedelta(days=1)).tolist() == []
