"""LatestState: bad-row skips, ordering, per-quantity latest, positions, bounds."""

from __future__ import annotations

import datetime as dt
import logging
import math

import polars as pl
import pytest

from coptwin.model.columns import SchemaError
from coptwin.model.state import LatestState

SENSORS = [
    {"sensor_id": "t1", "kind": "temperature"},
    {"sensor_id": "t2", "kind": "temperature"},
    {"sensor_id": "g1", "kind": "gps_tracker"},
]


@pytest.fixture
def state(config, make_registry):
    return LatestState(make_registry(config, SENSORS), max_future_skew_s=300)


def by_id(df: pl.DataFrame) -> dict[str, dict]:
    return {r["sensor_id"]: r for r in df.iter_rows(named=True)}


def test_each_bad_row_is_counted_and_the_rest_applies(state, make_rows, now, caplog):
    rows = make_rows(
        [
            {"sensor_id": "t1", "age": 10, "value": 20.0},
            {"sensor_id": None, "age": 10, "value": 1.0},
            {"sensor_id": "t1", "ts": None, "value": 1.0},
            {"sensor_id": "t2", "age": 5, "value": math.nan},
            {"sensor_id": "t2", "age": 5, "value": math.inf},
            {"sensor_id": "g1", "age": 5, "value": 1.0, "lon": -math.inf, "lat": 1.0},
            {"sensor_id": "ghost", "age": 5, "value": 1.0},
            {"sensor_id": "t2", "age": -3600, "value": 1.0},  # an hour in the future
            {"sensor_id": "t2", "age": -60, "value": 22.0},  # within the skew: fine
        ]
    )
    with caplog.at_level(logging.WARNING, logger="coptwin.model.state"):
        result = state.apply(rows, now)
    assert result.skipped == {
        "null_sensor_id": 1,
        "null_ts": 1,
        "unknown_sensor": 1,
        "bad_value": 3,
        "future_ts": 1,
    }
    assert (result.rows_in, result.rows_applied, result.rows_skipped) == (9, 2, 7)
    assert sorted(result.changed) == ["t1", "t2"]
    latest = by_id(state.latest)
    assert latest["t1"]["value"] == 20.0 and latest["t2"]["value"] == 22.0
    warnings = [r for r in caplog.records if r.name == "coptwin.model.state"]
    assert len(warnings) == 1  # once per batch, not per row
    assert "ghost" in warnings[0].getMessage() and "bad_value=3" in warnings[0].getMessage()


def test_skip_counters_accumulate_across_batches(state, make_rows, now):
    state.apply(make_rows([{"sensor_id": "x", "age": 1}, {"sensor_id": "t1", "age": 1}]), now)
    state.apply(make_rows([{"sensor_id": "y", "age": 1}, {"sensor_id": None, "age": 1}]), now)
    assert state.skipped_total == {"unknown_sensor": 2, "null_sensor_id": 1}
    assert (state.rows_in_total, state.rows_applied_total) == (4, 1)


def test_older_row_does_not_replace_latest_but_enters_history(state, make_rows, now):
    state.apply(make_rows([{"sensor_id": "t1", "age": 10, "value": 2.0}]), now)
    result = state.apply(make_rows([{"sensor_id": "t1", "age": 60, "value": 1.0}]), now)
    assert result.changed == [] and result.rows_applied == 1
    assert by_id(state.latest)["t1"]["value"] == 2.0
    assert [v for _, v in state.history("t1")] == [1.0, 2.0]  # ts order


def test_rows_out_of_order_within_a_batch(state, make_rows, now):
    state.apply(
        make_rows(
            [
                {"sensor_id": "t1", "age": 5, "value": 3.0},
                {"sensor_id": "t1", "age": 50, "value": 1.0},
                {"sensor_id": "t1", "age": 20, "value": 2.0},
            ]
        ),
        now,
    )
    row = by_id(state.latest)["t1"]
    assert row["value"] == 3.0 and row["ts"] == now - dt.timedelta(seconds=5)
    assert [v for _, v in state.history("t1")] == [1.0, 2.0, 3.0]


def test_equal_timestamp_later_row_wins(state, make_rows, now):
    state.apply(make_rows([{"sensor_id": "t1", "age": 5, "value": 1.0}]), now)
    result = state.apply(make_rows([{"sensor_id": "t1", "age": 5, "value": 1.5}]), now)
    assert result.changed == ["t1"] and by_id(state.latest)["t1"]["value"] == 1.5


def test_latest_per_quantity_and_overall(state, make_rows, now):
    state.apply(
        make_rows(
            [
                {"sensor_id": "t1", "age": 30, "value": 21.0, "quantity": "temperature"},
                {"sensor_id": "t1", "age": 10, "value": 55.0, "quantity": "humidity"},
                {"sensor_id": "t1", "age": 20, "value": 22.0, "quantity": "temperature"},
                {"sensor_id": "t2", "age": 20, "value": 7.0},
            ]
        ),
        now,
    )
    assert by_id(state.latest)["t1"]["quantity"] == "humidity"
    per_q = {
        (r["sensor_id"], r["quantity"]): r["value"]
        for r in state.latest_by_quantity.rows(named=True)
    }
    assert per_q == {("t1", "temperature"): 22.0, ("t1", "humidity"): 55.0, ("t2", None): 7.0}
    # An older humidity row changes nothing; a newer temperature changes only its quantity.
    result = state.apply(
        make_rows([{"sensor_id": "t1", "age": 15, "value": 23.0, "quantity": "temperature"}]), now
    )
    assert result.changed == ["t1"]
    assert by_id(state.latest)["t1"]["quantity"] == "humidity"
    assert [v for _, v in state.history("t1", quantity="temperature")] == [21.0, 22.0, 23.0]
    assert state.history("t1", quantity="pressure") == []


def test_moving_sensor_keeps_last_known_position(state, make_rows, now):
    state.apply(
        make_rows(
            [
                {"sensor_id": "g1", "age": 30, "value": 1.0, "lon": 13.0, "lat": 52.0},
                {"sensor_id": "g1", "age": 20, "value": 1.0, "lon": 13.1, "lat": 52.1, "alt": 4.0},
            ]
        ),
        now,
    )
    # a newer row without a position (e.g. battery) keeps the last position
    state.apply(make_rows([{"sensor_id": "g1", "age": 10, "value": 0.5}]), now)
    row = by_id(state.latest)["g1"]
    assert (row["value"], row["lon"], row["lat"], row["alt"]) == (0.5, 13.1, 52.1, 4.0)
    # an older position does not move it back
    state.apply(make_rows([{"sensor_id": "g1", "age": 25, "lon": 1.0, "lat": 1.0}]), now)
    assert by_id(state.latest)["g1"]["lon"] == 13.1
    assert by_id(state.latest)["g1"]["value"] == 0.5


def test_memory_is_bounded_by_sensors_not_rows(config, make_registry, make_rows, now):
    state = LatestState(make_registry(config, SENSORS), history_per_sensor=7)
    for batch in range(40):
        state.apply(
            make_rows(
                [
                    {
                        "sensor_id": sid,
                        "age": 1000 - batch * 10 - i,
                        "value": float(batch),
                        "quantity": q,
                    }
                    for sid in ("t1", "t2", "g1")
                    for i, q in enumerate(("a", "b"))
                ]
            ),
            now,
        )
    assert state.latest.height == 3 and len(state) == 3
    assert state.latest_by_quantity.height == 6
    history = state.history("t2")
    assert len(history) == 7  # the bound
    assert [v for _, v in history] == [36.0, 37.0, 37.0, 38.0, 38.0, 39.0, 39.0]
    ts = [t for t, _ in history]
    assert ts == sorted(ts)


def test_history_bound_when_one_batch_exceeds_it(config, make_registry, make_rows, now):
    state = LatestState(make_registry(config, SENSORS), history_per_sensor=3)
    state.apply(
        make_rows([{"sensor_id": "t1", "age": 100 - i, "value": float(i)} for i in range(10)]), now
    )
    assert [v for _, v in state.history("t1")] == [7.0, 8.0, 9.0]
    assert state.history("t2") == [] and state.history("nope") == []


def test_event_rows_without_value(state, make_rows, now):
    state.apply(make_rows([{"sensor_id": "t1", "age": 3, "value": None}]), now)
    assert by_id(state.latest)["t1"]["value"] is None
    assert state.history("t1") == [(now - dt.timedelta(seconds=3), None)]


def test_latest_for_changed_ids(state, make_rows, now):
    result = state.apply(
        make_rows(
            [
                {"sensor_id": "t1", "age": 3, "value": 1.0},
                {"sensor_id": "t2", "age": 3, "value": 2.0},
            ]
        ),
        now,
    )
    sub = state.latest_for(["t2", "ghost", "g1"])
    assert sub["sensor_id"].to_list() == ["t2"]
    assert sorted(state.latest_for(result.changed)["sensor_id"].to_list()) == ["t1", "t2"]


def test_latest_by_quantity_for_some_sensors(state, make_rows, now):
    state.apply(
        make_rows(
            [
                {"sensor_id": "t1", "age": 30, "value": 21.0, "quantity": "temperature"},
                {"sensor_id": "t1", "age": 10, "value": 55.0, "quantity": "humidity"},
                {"sensor_id": "t2", "age": 20, "value": 7.0, "quantity": "temperature"},
                {"sensor_id": "g1", "age": 20, "value": 1.0, "quantity": "temperature"},
            ]
        ),
        now,
    )
    everything = state.latest_by_quantity.sort("sensor_id", "quantity")
    some = state.latest_by_quantity_for(["t1", "g1", "ghost", "t1"]).sort("sensor_id", "quantity")
    assert some.equals(everything.filter(pl.col("sensor_id").is_in(["t1", "g1"])))
    assert some.height == 3
    assert state.latest_by_quantity_for([]).height == 0


def test_reset_forgets_everything(state, make_rows, now):
    state.apply(make_rows([{"sensor_id": "t1", "age": 3}, {"sensor_id": "zz", "age": 3}]), now)
    state.reset()
    assert state.latest.height == 0 and state.history("t1") == [] and state.skipped_total == {}


def test_set_registry_keeps_known_sensors(state, config, make_registry, make_rows, now):
    state.apply(
        make_rows(
            [{"sensor_id": s, "age": 3, "value": 1.0, "quantity": "q"} for s in ("t1", "t2")]
        ),
        now,
    )
    state.set_registry(
        make_registry(
            config,
            [{"sensor_id": "new", "kind": "camera"}, {"sensor_id": "t2", "kind": "temperature"}],
        )
    )
    assert state.latest["sensor_id"].to_list() == ["t2"]
    assert state.latest_by_quantity["sensor_id"].to_list() == ["t2"]
    assert [v for _, v in state.history("t2")] == [1.0] and state.history("t1") == []
    result = state.apply(make_rows([{"sensor_id": "new", "age": 1, "value": 5.0}]), now)
    assert result.changed == ["new"]
    assert sorted(state.latest["sensor_id"].to_list()) == ["new", "t2"]


def test_empty_and_non_canonical_batches(state, now):
    result = state.apply(pl.DataFrame(), now)
    assert (result.rows_in, result.changed) == (0, [])
    with pytest.raises(SchemaError, match="ts"):
        state.apply(pl.DataFrame({"sensor_id": ["t1"], "time": [now]}), now)


def test_naive_timestamps_and_now_are_utc(state, now):
    naive = now.replace(tzinfo=None)
    rows = pl.DataFrame(
        {"sensor_id": ["t1"], "ts": [naive - dt.timedelta(seconds=1)], "value": [1]}
    )
    result = state.apply(rows, naive)
    assert result.rows_applied == 1
    assert state.latest["ts"].to_list() == [now - dt.timedelta(seconds=1)]
