"""Status rules: thresholds with overrides, categorical, events, ageing, unknown."""

from __future__ import annotations

import polars as pl
import pytest

from coptwin.config import STATUSES
from coptwin.model.reasons import reason
from coptwin.model.rules import REASON_COLUMNS, evaluate, rule_frame
from coptwin.model.state import LatestState

RULES = {
    "temperature": {
        "warn_low": 0.0,
        "warn_high": 30.0,
        "alarm_low": -10.0,
        "alarm_high": 35.0,
        "stale_after_s": 600,
        "offline_after_s": 3600,
    },
    "camera": {"states": {"1": "ok", "0": "offline", "2": "warn"}},
    "motion": {"active_for_s": 60, "idle_status": "ok"},
    "air_quality": {"quantity": "pm25", "warn_high": 35.0},
}


def statuses(frame: pl.DataFrame) -> dict[str, str]:
    return dict(zip(frame["sensor_id"].to_list(), frame["status"].to_list(), strict=True))


@pytest.fixture
def rules_config(make_config):
    return make_config(rules=RULES)


@pytest.fixture
def judge(rules_config, make_registry, make_rows, now):
    """Statuses of sensors after applying readings through a real LatestState."""

    def run(sensors, readings, *, ids=None):
        registry = make_registry(rules_config, sensors)
        state = LatestState(registry)
        state.apply(make_rows(readings), now)
        return statuses(
            evaluate(
                state.latest,
                registry,
                rules_config,
                now,
                ids=ids,
                by_quantity=state.latest_by_quantity,
            )
        )

    return run


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (20.0, "ok"),
        (30.0, "warn"),  # thresholds are inclusive
        (34.9, "warn"),
        (35.0, "alarm"),
        (0.0, "warn"),
        (-5.0, "warn"),
        (-10.0, "alarm"),
        (-40.0, "alarm"),
    ],
)
def test_numeric_thresholds(judge, value, status):
    got = judge(
        [{"sensor_id": "t", "kind": "temperature"}], [{"sensor_id": "t", "age": 1, "value": value}]
    )
    assert got == {"t": status}


def test_per_sensor_threshold_override(judge):
    sensors = [
        {"sensor_id": "default", "kind": "temperature"},
        {"sensor_id": "server_room", "kind": "temperature", "warn_high": 22.0, "alarm_high": 26.0},
    ]
    readings = [{"sensor_id": s["sensor_id"], "age": 1, "value": 24.0} for s in sensors]
    assert judge(sensors, readings) == {"default": "ok", "server_room": "warn"}
    readings = [{"sensor_id": s["sensor_id"], "age": 1, "value": 27.0} for s in sensors]
    assert judge(sensors, readings) == {"default": "ok", "server_room": "alarm"}


@pytest.mark.parametrize(
    ("age", "status"), [(599, "ok"), (601, "stale"), (3599, "stale"), (3601, "offline")]
)
def test_stale_and_offline_by_age(judge, age, status):
    got = judge(
        [{"sensor_id": "t", "kind": "temperature"}], [{"sensor_id": "t", "age": age, "value": 20.0}]
    )
    assert got == {"t": status}


def test_no_reading_is_unknown(judge):
    sensors = [{"sensor_id": "a", "kind": "temperature"}, {"sensor_id": "b", "kind": "temperature"}]
    assert judge(sensors, [{"sensor_id": "a", "age": 1, "value": 20.0}]) == {
        "a": "ok",
        "b": "unknown",
    }


@pytest.mark.parametrize(
    ("value", "status"), [(1.0, "ok"), (0.0, "offline"), (2.0, "warn"), (7.0, "unknown")]
)
def test_categorical_states(judge, value, status):
    got = judge(
        [{"sensor_id": "c", "kind": "camera"}], [{"sensor_id": "c", "age": 1, "value": value}]
    )
    assert got == {"c": status}


@pytest.mark.parametrize(
    ("age", "value", "status"),
    [(10, 1.0, "warn"), (10, None, "warn"), (59, 1.0, "warn"), (61, 1.0, "ok"), (10, 0.0, "ok")],
)
def test_event_sensor_active_window(judge, age, value, status):
    got = judge(
        [{"sensor_id": "m", "kind": "motion"}], [{"sensor_id": "m", "age": age, "value": value}]
    )
    assert got == {"m": status}


def test_rule_quantity_picks_the_right_reading(judge):
    sensors = [
        {"sensor_id": "aq", "kind": "air_quality"},
        {"sensor_id": "aq2", "kind": "air_quality"},
    ]
    readings = [
        {"sensor_id": "aq", "age": 30, "value": 50.0, "quantity": "pm25"},
        {"sensor_id": "aq", "age": 5, "value": 10.0, "quantity": "pm10"},  # newer, other quantity
        {"sensor_id": "aq2", "age": 5, "value": 99.0, "quantity": "pm10"},
    ]
    assert judge(sensors, readings) == {"aq": "warn", "aq2": "unknown"}


def test_kind_without_rule_is_ok_when_reporting(judge):
    sensors = [{"sensor_id": "p", "kind": "power_meter"}, {"sensor_id": "q", "kind": "power_meter"}]
    assert judge(sensors, [{"sensor_id": "p", "age": 99999, "value": 1e9}]) == {
        "p": "ok",
        "q": "unknown",
    }


def test_numeric_rule_with_value_less_reading_is_unknown(judge):
    sensors = [{"sensor_id": "t", "kind": "temperature"}]
    assert judge(sensors, [{"sensor_id": "t", "age": 1, "value": None}]) == {"t": "unknown"}


def test_only_requested_ids_are_evaluated(rules_config, make_registry, make_rows, now):
    registry = make_registry(
        rules_config, [{"sensor_id": f"t{i}", "kind": "temperature"} for i in range(4)]
    )
    state = LatestState(registry)
    state.apply(make_rows([{"sensor_id": f"t{i}", "age": 1, "value": 31.0} for i in range(4)]), now)
    got = evaluate(state.latest, registry, rules_config, now, ids=["t1", "t3", "ghost"])
    assert statuses(got) == {"t1": "warn", "t3": "warn"}
    assert got["idx"].to_list() == [1, 3]  # registry positions


def test_reasons_say_why_in_words(rules_config, make_registry, make_rows, now):
    registry = make_registry(
        rules_config,
        [
            {"sensor_id": "hot", "kind": "temperature"},
            {"sensor_id": "edge", "kind": "temperature", "unit": "degC"},
            {"sensor_id": "cold", "kind": "temperature", "alarm_low": -20.0},
            {"sensor_id": "fine", "kind": "temperature"},
            {"sensor_id": "new", "kind": "temperature"},
            {"sensor_id": "old", "kind": "temperature"},
            {"sensor_id": "gone", "kind": "temperature"},
            {"sensor_id": "cam", "kind": "camera"},
            {"sensor_id": "door", "kind": "motion"},
            {"sensor_id": "air", "kind": "air_quality"},
        ],
    )
    state = LatestState(registry)
    state.apply(
        make_rows(
            [
                {"sensor_id": "hot", "age": 1, "value": 36.5, "unit": "°C"},
                {"sensor_id": "edge", "age": 1, "value": 30.0},
                {"sensor_id": "cold", "age": 1, "value": -12.25},
                {"sensor_id": "fine", "age": 1, "value": 21.0},
                {"sensor_id": "old", "age": 700, "value": 1.0},
                {"sensor_id": "gone", "age": 4000, "value": 1.0},
                {"sensor_id": "cam", "age": 1, "value": 2.0},
                {"sensor_id": "door", "age": 5, "value": 1.0},
                {"sensor_id": "air", "age": 5, "value": 1.0, "quantity": "temperature"},
            ]
        ),
        now,
    )
    df = evaluate(state.latest, registry, rules_config, now, by_quantity=state.latest_by_quantity)
    limits = rule_frame(registry, rules_config).rows(named=True)
    words = [
        reason(*row, limits=limits[i])
        for i, row in zip(df["idx"], df.select(REASON_COLUMNS).iter_rows(), strict=True)
    ]
    assert dict(zip(df["sensor_id"].to_list(), words, strict=True)) == {
        "hot": "value 36.5 °C above alarm_high 35",
        "edge": "value 30 degC at warn_high 30",  # the sensor's unit when the reading has none
        "cold": "value -12.25 below warn_low 0",  # alarm_low overridden to -20 for this one
        "fine": "value 21 within limits",
        "new": "no reading yet",
        "old": "no reading since 2024-06-01 11:48:20 UTC (stale after 600 s)",
        "gone": "no reading since 2024-06-01 10:53:20 UTC (offline after 3600 s)",
        "cam": "state 2",
        "door": "event at 2024-06-01 11:59:55 UTC (active for 60 s)",
        "air": "no reading of pm25 yet",
    }
    assert statuses(df) == {
        "hot": "alarm",
        "edge": "warn",
        "cold": "warn",
        "fine": "ok",
        "new": "unknown",
        "old": "stale",
        "gone": "offline",
        "cam": "warn",
        "door": "warn",
        "air": "unknown",
    }
    assert set(df["status"].to_list()) <= set(STATUSES)


def test_readings_of_unregistered_sensors_are_ignored(rules_config, make_registry, now):
    registry = make_registry(rules_config, [{"sensor_id": "t", "kind": "temperature"}])
    latest = pl.DataFrame(
        {"sensor_id": ["t", "ghost"], "ts": [now, now], "value": [20.0, 99.0]},
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )
    assert statuses(evaluate(latest, registry, rules_config, now)) == {"t": "ok"}
