"""AlarmEvaluator: raise / repeat / return from statuses, with on/off delays, on a fake clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from coptwin.alarms.evaluator import AlarmEvaluator, _iso_z
from coptwin.alarms.fold import AlarmBook
from coptwin.alarms.model import alarm_id_for, iso_z, system_event_id
from coptwin.alarms.schema import EVENT_SCHEMA
from coptwin.config import RuleConfig

from .conftest import T0, at, operator


class Engine:
    """One engine's alarm side: an evaluator and the book it feeds, driven by a fake clock.

    Sensors join the evaluator's registry as they first appear (kind and layer from
    their first row), as a re-read sensors table would add them."""

    def __init__(self, book: AlarmBook | None = None, **rules: RuleConfig) -> None:
        self.evaluator = AlarmEvaluator(rules or {"level": RuleConfig()}, author="coptwin")
        self.book = book if book is not None else AlarmBook()
        self.written: list[dict] = []
        self.sensors: dict[str, tuple[str, str]] = {}
        self.reasons: dict[int, str] = {}
        self.evaluator.sync(self.book)

    def register(self, sensor: str, kind: str = "level", layer: str = "water") -> int:
        if sensor not in self.sensors:
            self.sensors[sensor] = (kind, layer)
            ids = list(self.sensors)
            self.evaluator.set_sensors(
                ids, [k for k, _ in self.sensors.values()], [v for _, v in self.sensors.values()]
            )
            self.evaluator.sync(self.book)
        return self.evaluator.index_of(sensor)

    def describe(self, idx):
        return [self.reasons.get(int(i)) for i in idx]

    def run(self, frame, now):
        events = self.evaluator.evaluate(frame, now, self.book, self.describe)
        result = self.book.apply(events)
        self.evaluator.sync(self.book, {self.book.get(a).sensor_id for a in result.changed})
        return events

    def tick(self, seconds: float, *rows: tuple) -> list[tuple[str, str]]:
        """rows: (sensor, status, value[, reading seconds[, kind[, layer]]]); ts defaults to now."""
        frame = None
        if rows:
            idx = [self.register(*r[:1], *r[4:6]) for r in rows]
            for i, r in zip(idx, rows, strict=True):
                self.reasons[i] = f"{r[0]} is {r[1]}"
            frame = pl.DataFrame(
                {
                    "idx": idx,
                    "status": [r[1] for r in rows],
                    "value": [float(r[2]) for r in rows],
                    "ts": [at(r[3] if len(r) > 3 else seconds) for r in rows],
                },
                schema_overrides={"ts": pl.Datetime("us", "UTC")},
            )
        events = self.run(frame, at(seconds))
        self.written.extend(events.iter_rows(named=True))
        return [(e["event"], e["sensor_id"]) for e in events.iter_rows(named=True)]


def test_raise_has_deterministic_ids_and_the_readings_content():
    eng = Engine()
    for i, frac in enumerate((0, 500_000, 123_456)):
        t = 10 * i + frac / 1e6
        assert eng.tick(t, (f"S{i}", "alarm", 12.5, t)) == [("raised", f"S{i}")]
        row = eng.written[-1]
        ts = T0 + timedelta(seconds=t)
        assert row["alarm_id"] == alarm_id_for(f"S{i}", ts)  # vectorised and scalar agree
        assert row["event_id"] == system_event_id(f"S{i}", "raised", ts)
        assert (row["status"], row["value"], row["layer"], row["author"]) == (
            "alarm",
            12.5,
            "water",
            "coptwin",
        )
        assert row["reason"] == f"S{i} is alarm" and row["ts"] == ts
    assert row["alarm_id"] == "S2@2025-03-01T12:00:20.123456Z"


def test_the_evaluators_time_text_is_iso_z():
    rng = np.random.default_rng(2)
    us = rng.integers(-(10**15), 4 * 10**15, 300)
    us[:100] -= us[:100] % 1_000_000  # whole seconds
    us[100:200] -= us[100:200] % 1000  # milliseconds
    expected = [
        iso_z(datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=int(u)))
        for u in us
    ]
    assert _iso_z(us) == expected
    assert {len(t) for t in expected} == {20, 24, 27}


def test_wavering_within_the_alarm_delay_raises_nothing_then_a_held_condition_raises_once():
    eng = Engine(level=RuleConfig(alarm_delay_s=30))
    events = []
    for k in range(60):  # 10 minutes, flipping every 10 s
        events += eng.tick(10 * k, ("W", "alarm" if k % 2 == 0 else "ok", 10.0))
    assert events == [] and eng.evaluator.pending(at(600)) == {"raise": 0, "return": 0}
    assert eng.tick(600, ("W", "alarm", 11.0)) == []
    assert eng.evaluator.pending(at(600))["raise"] == 1
    assert eng.tick(629) == []
    assert eng.tick(630) == [("raised", "W")]  # the delay is met by time alone
    assert eng.written[-1]["ts"] == at(600)  # the alarm's time is its onset


def test_clear_delay_keeps_one_alarm_active_while_it_wavers():
    eng = Engine(level=RuleConfig(clear_delay_s=60))
    events = []
    for k in range(30):
        events += eng.tick(10 * k, ("W", "alarm" if k % 2 == 0 else "ok", 10.0))
    assert events == [("raised", "W")]  # the last flip, to ok, was at 290 s
    assert eng.tick(300, ("W", "ok", 9.0)) == []
    assert eng.tick(349) == []
    assert eng.tick(350) == [("returned", "W")]
    assert eng.written[-1]["ts"] == at(290)


def test_without_delays_one_alarm_counts_its_repeats():
    eng = Engine()
    events = []
    for k in range(100):
        events += eng.tick(k, ("W", "alarm" if k % 2 == 0 else "ok", 10.0))
    assert events.count(("raised", "W")) == 1
    assert events.count(("repeated", "W")) == 49 and events.count(("returned", "W")) == 50
    [alarm] = list(eng.book)
    assert alarm.repeats == 49 and not alarm.active
    # Acknowledged and returned: closed; the next condition is a new alarm.
    eng.book.apply_events([operator("acknowledged", alarm.alarm_id, 100)])
    assert eng.book.get(alarm.alarm_id).closed
    assert eng.tick(101, ("W", "alarm", 11.0)) == [("raised", "W")]
    assert len(eng.book) == 2


def test_acknowledged_active_alarm_that_returns_closes_and_a_new_one_follows():
    eng = Engine()
    eng.tick(0, ("W", "alarm", 11.0))
    [alarm] = list(eng.book)
    eng.book.apply_events([operator("acknowledged", alarm.alarm_id, 1)])
    assert eng.tick(2, ("W", "ok", 9.0)) == [("returned", "W")]
    assert eng.book.get(alarm.alarm_id).closed
    assert eng.tick(3, ("W", "alarm", 11.0)) == [("raised", "W")]


def test_raise_on_warn_and_offline_per_kind():
    eng = Engine(
        level=RuleConfig(),
        air=RuleConfig(raise_on=["alarm", "warn"]),
        cam=RuleConfig(raise_on=["offline"]),
    )
    got = eng.tick(
        0,
        ("L", "warn", 1.0, 0, "level"),
        ("A", "warn", 1.0, 0, "air"),
        ("C", "offline", 1.0, 0, "cam"),
        ("L2", "offline", 1.0, 0, "level"),
        ("X", "alarm", 1.0, 0, "unconfigured-kind"),
    )
    assert sorted(got) == [("raised", "A"), ("raised", "C"), ("raised", "X")]
    statuses = {r["sensor_id"]: r["status"] for r in eng.written}
    assert statuses == {"A": "warn", "C": "offline", "X": "alarm"}
    # warn -> alarm is the same condition for "air"; warn counts as normal for "level".
    assert eng.tick(1, ("A", "alarm", 2.0, 1, "air"), ("L", "alarm", 2.0, 1, "level")) == [
        ("raised", "L")
    ]
    assert eng.tick(2, ("L", "warn", 1.0, 2, "level")) == [("returned", "L")]


def test_no_information_holds_the_alarm_and_restarts_the_clear_timer():
    eng = Engine(level=RuleConfig(clear_delay_s=30))
    eng.tick(0, ("W", "alarm", 11.0))
    assert eng.tick(10, ("W", "stale", 11.0)) == []
    assert eng.tick(100, ("W", "alarm", 11.0)) == []  # still the same alarm
    assert eng.tick(110, ("W", "ok", 9.0)) == []
    assert eng.tick(120, ("W", "offline", 9.0)) == []
    assert eng.tick(200, ("W", "ok", 9.0)) == []
    assert eng.tick(229) == []
    assert eng.tick(230) == [("returned", "W")]
    assert len(eng.book) == 1


def test_out_of_service_sensors_and_layers_raise_nothing_until_back():
    eng = Engine()
    eng.book.apply_events(
        [
            operator("out_of_service", None, 0, sensor="W1", reason="swap"),
            operator("out_of_service", None, 0, layer="air", reason="calibration"),
        ]
    )
    got = eng.tick(
        1,
        ("W1", "alarm", 11.0),
        ("W2", "alarm", 11.0),
        ("A1", "alarm", 11.0, 1, "level", "air"),
    )
    assert got == [("raised", "W2")]
    assert eng.tick(5) == []
    eng.book.apply_events([operator("in_service", None, 10, sensor="W1")])
    assert eng.tick(10) == [("raised", "W1")]
    assert eng.written[-1]["ts"] == at(1)  # its condition started before the maintenance ended


def test_two_engines_write_the_same_events_and_the_fold_keeps_one():
    shared = AlarmBook()
    a, b = Engine(), Engine()
    readings = [(k, ("W", "alarm" if (k // 3) % 2 == 0 else "ok", float(k))) for k in range(30)]
    for k, row in readings:
        a.tick(k, row)
        b.tick(k, row)
    frame_a = pl.DataFrame(a.written)
    frame_b = pl.DataFrame(b.written)
    assert frame_a.equals(frame_b) and frame_a.height > 5
    shared.apply(pl.concat([frame_a, frame_b]))
    assert len(shared) == 1 and shared.event_count == frame_a.height


def test_an_engine_that_starts_later_does_not_raise_what_is_already_raised():
    first = Engine()
    first.tick(0, ("W", "alarm", 11.0))
    late = Engine(book=first.book)  # a Kit session opening onto the same table
    assert late.tick(50, ("W", "alarm", 11.5, 45)) == []
    assert late.tick(60, ("W", "ok", 9.0)) == [("returned", "W")]


def test_a_sensor_twice_in_one_batch_takes_the_latest_reading():
    eng = Engine()
    got = eng.tick(10, ("W", "ok", 9.0, 9), ("W", "alarm", 11.0, 8))
    assert got == []
    got = eng.tick(11, ("W", "alarm", 11.0, 11), ("W", "ok", 9.0, 10))
    assert got == [("raised", "W")]


@pytest.mark.parametrize("n", [10_000])
def test_ten_thousand_sensors_five_percent_wavering(n):
    """Correctness at scale: every wavering sensor has one alarm, nobody else has any."""
    rng = np.random.default_rng(3)
    ids = np.array([f"s{i:05d}" for i in range(n)])
    eng = Engine(level=RuleConfig(alarm_delay_s=2, clear_delay_s=5))
    eng.evaluator.set_sensors(ids.tolist(), ["level"] * n, ["water"] * n)
    first = pl.DataFrame({"idx": np.arange(n), "status": "ok", "value": 1.0, "ts": at(0)})
    eng.run(first, at(0))
    waver = rng.choice(n, size=n // 20, replace=False)
    for k in range(1, 40):
        status = np.where(rng.random(waver.size) < 0.7, "alarm", "ok")
        batch = pl.DataFrame({"idx": waver, "status": status, "value": 2.0, "ts": at(k)})
        eng.run(batch, at(k))
    raised = {a.sensor_id for a in eng.book}
    assert raised <= set(ids[waver]) and len(raised) > 0.9 * waver.size
    assert all(len([a for a in eng.book if a.sensor_id == s]) == 1 for s in list(raised)[:50])


def test_unused_start():
    assert isinstance(T0, datetime)


def test_an_alarm_active_in_the_table_returns_when_a_new_engine_sees_the_sensor_normal():
    first = Engine()
    first.tick(0, ("W", "alarm", 11.0))
    restarted = Engine(book=first.book)  # the engine restarted; the table says active
    assert restarted.tick(100, ("W", "ok", 9.0, 90)) == [("returned", "W")]
    assert restarted.written[-1]["ts"] == at(90)


def test_a_reread_registry_keeps_phases_and_timers():
    eng = Engine(level=RuleConfig(alarm_delay_s=30))
    eng.tick(0, ("W", "alarm", 11.0))
    eng.register("NEW")  # the sensors table gained a sensor: W keeps its onset
    ids = ["NEW", "W"]  # and a new order
    eng.evaluator.set_sensors(ids, ["level", "level"], ["water", "water"])
    assert eng.evaluator.index_of("W") == 1
    assert eng.evaluator.next_due() == at(30)
    assert eng.run(None, at(30))["event"].to_list() == ["raised"]


def test_next_due_names_the_earliest_pending_delay():
    eng = Engine(level=RuleConfig(alarm_delay_s=30, clear_delay_s=60))
    assert eng.evaluator.next_due() is None
    eng.tick(0, ("A", "alarm", 11.0), ("B", "ok", 1.0))
    eng.tick(10, ("B", "alarm", 11.0))
    assert eng.evaluator.next_due() == at(30)
    eng.tick(30)
    assert eng.evaluator.next_due() == at(40)
    eng.tick(40, ("A", "ok", 1.0))
    assert eng.evaluator.next_due() == at(100)


def _insides(book: AlarmBook) -> tuple:
    """Everything a book holds: states, events per alarm, replay marks and indexes."""
    return (
        book._states,
        book._events,
        {k: sorted(v) for k, v in book._by_entity.items()},
        book._last,
        book._open,
        book._closed,
        book.out_of_service_sensors,
        dict(book.skipped),
    )


def test_the_bulk_fold_of_own_transitions_makes_the_general_folds_book():
    """AlarmBook.apply_transitions (the engine's tick) and apply (table reads) fold the
    same events to the same book, step by step: raises, repeats, returns, acks that
    close, an ack stamped after the next transition (replayed), shelving, out of
    service, copies already folded from another engine, copies again, and retention."""
    eng = Engine(book=AlarmBook(timedelta(seconds=8)))
    steps: list[tuple[str, pl.DataFrame]] = []

    def operate(*events):
        frame = EVENT_SCHEMA.frame(events)
        eng.book.apply(frame)
        eng.evaluator.sync(eng.book)
        steps.append(("table", frame))

    rng = np.random.default_rng(5)
    sensors = ["W1", "W2", "W3", "W4"]
    for k in range(40):
        statuses = [
            "alarm" if (k // 3) % 2 == 0 else "ok",  # W1: three ticks on, three off
            "alarm" if k % 2 == 0 else "ok",  # W2 flips every tick
            *("alarm" if rng.random() < 0.5 else "ok" for _ in sensors[2:]),
        ]
        rows = [(s, status, float(k)) for s, status in zip(sensors, statuses, strict=True)]
        before = len(eng.written)
        eng.tick(k, *rows)
        if len(eng.written) > before:
            own = EVENT_SCHEMA.frame(eng.written[before:])
            if k in (6, 18):  # another engine wrote them first: the table's copy comes first
                steps.append(("table", own))
            steps.append(("own", own))
            if k in (7, 19):  # and a copy again
                steps.append(("own", own))
        open_alarm = {s: eng.book.open_for(s) for s in sensors}
        if k in (7, 19, 31):  # acknowledged while active: its return closes it
            operate(operator("acknowledged", open_alarm["W1"].alarm_id, k, author="ann"))
        if k == 10:  # a clock ahead: sorts after W2's next transition (its return at 11)
            operate(operator("acknowledged", open_alarm["W2"].alarm_id, k + 1.5, author="bob"))
        if k == 12 and open_alarm["W3"] is not None:
            operate(operator("shelved", open_alarm["W3"].alarm_id, k, reason="work", until=k + 9))
        if k == 20:
            operate(operator("out_of_service", None, k, sensor="W4", reason="swap"))
        if k == 30:
            operate(operator("in_service", None, k, sensor="W4"))
    assert {kind for kind, _ in steps} == {"own", "table"} and len(steps) > 30

    general, bulk = AlarmBook(timedelta(seconds=8)), AlarmBook(timedelta(seconds=8))
    for kind, frame in steps:
        expected = general.apply(frame)
        got = bulk.apply_transitions(frame) if kind == "own" else bulk.apply(frame)
        assert got.changed == expected.changed
        assert (got.rows_applied, got.duplicates) == (expected.rows_applied, expected.duplicates)
        assert _insides(bulk) == _insides(general)
    assert _insides(bulk) == _insides(eng.book)
    raised = sum(e["event"] == "raised" for e in eng.written)
    assert len(general) < raised  # alarms closed, and retention forgot them
