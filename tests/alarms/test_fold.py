"""AlarmBook: any order, any number of copies of the same events fold to the same state."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import polars as pl

from coptwin.alarms.fold import AlarmBook
from coptwin.alarms.model import alarm_id_for
from coptwin.alarms.schema import EVENT_SCHEMA

from .conftest import at, operator, system

A = "W-12@2025-03-01T12:00:00Z"
B = "T-1@2025-03-01T12:00:05Z"


def _story():
    """Two alarms, repeats, operators' transitions, a layer out of service and back."""
    return [
        system("raised", "W-12", 0),
        system("returned", "W-12", 10, raised=0),
        system("repeated", "W-12", 20, raised=0, value=14.0),
        operator("acknowledged", A, 25, author="ann", reason="on it"),
        operator("shelved", A, 26, author="ann", reason="pump work", until=3600),
        system("returned", "W-12", 40, raised=0),
        system("raised", "T-1", 5, layer="air", status="warn"),
        operator("out_of_service", None, 30, author="tech", layer="air", reason="calibration"),
        operator("in_service", None, 90, author="tech", layer="air"),
        operator("out_of_service", None, 95, author="tech", sensor="T-1", reason="swap"),
    ]


def _snapshot(book: AlarmBook):
    return (
        sorted((a.alarm_id, a) for a in book),
        book.scopes(),
        book.out_of_service_sensors,
        book.out_of_service_layers,
    )


def test_story_folds_to_the_expected_states():
    book = AlarmBook()
    book.apply(EVENT_SCHEMA.frame(_story()))
    a, b = book.get(A), book.get(B)
    assert (a.repeats, a.acked_by, a.ack_note, a.closed_at) == (1, "ann", "on it", at(40))
    assert book.state_of(a, at(50)) == "closed"
    assert book.state_of(b, at(50)) == "out-of-service"
    assert b.status == "warn" and b.layer == "air"
    assert [s.key for s in book.scopes()] == [("service", "sensor", "T-1")]
    assert book.open_for("W-12") is None and book.open_for("T-1").alarm_id == B


def test_order_duplicates_and_batches_do_not_matter():
    events = _story()
    reference = AlarmBook()
    reference.apply(EVENT_SCHEMA.frame(events))
    want = _snapshot(reference)
    rng = random.Random(7)
    for _ in range(25):
        shuffled = events + rng.sample(events, k=4)  # duplicates: retries, second engines
        rng.shuffle(shuffled)
        book = AlarmBook()
        cut = sorted(rng.sample(range(1, len(shuffled)), k=3))
        for part in (shuffled[: cut[0]], shuffled[cut[0] : cut[1]], shuffled[cut[1] :]):
            book.apply(EVENT_SCHEMA.frame(part))
        assert _snapshot(book) == want


def test_same_event_id_with_different_content_keeps_the_smaller_either_way():
    first = system("raised", "W-12", 0)
    other = replace(first, value=99.0, reason="another engine's wording")
    for order in ([first, other], [other, first]):
        book = AlarmBook()
        for e in order:
            book.apply_events([e])
        assert book.get(A).value == min(first, other, key=lambda e: e.sort_key()).value


def test_concurrent_acknowledgements_apply_once_and_count_the_rest():
    book = AlarmBook()
    book.apply_events(
        [
            system("raised", "W-12", 0),
            operator("acknowledged", A, 10, author="ann"),
            operator("acknowledged", A, 10, author="bob"),
            operator("unshelved", A, 11, author="cy"),  # never shelved
        ]
    )
    alarm = book.get(A)
    assert alarm.acked and alarm.ignored == 2 and alarm.events == 2
    assert alarm.acked_by in ("ann", "bob")


def test_events_before_their_raise_wait_for_it():
    book = AlarmBook()
    # The ack's writer has a clock 2 s behind the engine's: it still applies after the raise.
    changed = book.apply_events([operator("acknowledged", A, -2)])
    assert changed == [] and book.get(A) is None
    changed = book.apply_events([system("raised", "W-12", 0)])
    assert changed == [A] and book.get(A).acked


def test_bad_rows_are_skipped_and_counted():
    good = EVENT_SCHEMA.frame([system("raised", "W-12", 0)])
    bad = pl.DataFrame(
        {
            "event_id": [None, "e2", "e3", "e4", "e5", "e6"],
            "event": ["raised", "exploded", "raised", "raised", "shelved", "out_of_service"],
            "ts": [at(1), at(1), None, at(1), at(1), at(1)],
            "author": ["x", "x", "x", "x", "x", "x"],
            "alarm_id": ["a", "a", "a", None, "a", None],
            "sensor_id": ["s", "s", "s", "s", None, None],
        }
    )
    book = AlarmBook()
    result = book.apply(pl.concat([good, EVENT_SCHEMA.conform(bad)]))
    assert result.rows_applied == 1 and len(book) == 1
    assert result.skipped == {
        "missing_event_id": 1,
        "unknown_event": 1,
        "missing_ts": 1,
        "missing_alarm_id": 1,
        "missing_until": 1,
        "service_needs_sensor_or_layer": 1,
    }


def test_full_reload_replaces_and_reports_what_changed():
    book = AlarmBook()
    book.apply_events([system("raised", "W-12", 0), system("raised", "T-1", 5, layer="air")])
    result = book.apply(EVENT_SCHEMA.frame([system("raised", "W-12", 0)]), full_reload=True)
    assert result.changed == [B] and book.get(B) is None and book.get(A) is not None


def test_listing_active_first_then_oldest_unacknowledged():
    book = AlarmBook()
    book.apply_events(
        [
            system("raised", "S-old", 0),
            system("raised", "S-new", 50),
            system("raised", "S-acked", 10),
            system("raised", "S-back", 5),
            system("returned", "S-back", 30, raised=5),
            operator("acknowledged", "S-acked@2025-03-01T12:00:10Z", 20),
        ]
    )
    listing = [(a.sensor_id, s) for a, s in book.listing(at(60))]
    assert listing == [
        ("S-old", "unacknowledged-active"),
        ("S-new", "unacknowledged-active"),
        ("S-acked", "acknowledged-active"),
        ("S-back", "unacknowledged-returned"),
    ]
    assert book.counts(at(60))["unacknowledged-active"] == 2
    frame = book.frame(at(60))
    assert frame["alarm_id"].to_list()[0] == "S-old@2025-03-01T12:00:00Z"
    assert frame.schema["raised_at"] == pl.Datetime("us", "UTC")


def test_open_alarm_per_sensor_follows_the_book():
    book = AlarmBook()
    book.apply_events([system("raised", "W-12", 0)])
    assert (book.open_for("W-12").alarm_id, book.open_for("W-12").active) == (A, True)
    book.apply_events([system("returned", "W-12", 5, raised=0)])
    assert (book.open_for("W-12").alarm_id, book.open_for("W-12").active) == (A, False)
    book.apply_events([operator("acknowledged", A, 6)])
    assert book.open_for("W-12") is None and book.open_alarms() == []


def _cycle(sensor: str, t: float):
    """One alarm's whole life: raised at ``t``, returned a minute later, acknowledged
    two minutes after the raise (closed then)."""
    aid = alarm_id_for(sensor, at(t))
    return [
        system("raised", sensor, t),
        system("returned", sensor, t + 60, raised=t),
        operator("acknowledged", aid, t + 120, author="ann"),
    ]


def test_closed_alarms_older_than_the_retention_leave_memory_open_ones_never():
    """A month of an alarm every 10 minutes keeps about a day of closed alarms in memory;
    an alarm nobody acknowledged, and one still active, stay however old they get."""
    book = AlarmBook(keep_closed=timedelta(hours=24))
    book.apply_events([system("raised", "OLD-1", 0), system("returned", "OLD-1", 30, raised=0)])
    book.apply_events([system("raised", "OLD-2", 0)])
    unacked, active = alarm_id_for("OLD-1", at(0)), alarm_id_for("OLD-2", at(0))
    step, cycles = 600, 30 * 24 * 6
    held = []
    for k in range(cycles):
        book.apply_events(_cycle("CHATTY", 1000 + k * step))
        held.append(len(book))
    per_day = 24 * 3600 // step
    assert max(held) <= per_day + 4, max(held)  # bounded, not ~4,300
    assert book.event_count <= 3 * (per_day + 2) + 3
    assert book.get(unacked) is not None and not book.get(unacked).closed
    assert book.get(active) is not None and book.open_for("OLD-2").alarm_id == active
    # The newest day's alarms are all still there, closed.
    last = 1000 + (cycles - 1) * step
    newest = [alarm_id_for("CHATTY", at(last - k * step)) for k in range(per_day)]
    assert all(book.get(a) is not None and book.get(a).closed for a in newest)
    # A copy of a dropped alarm's events (a re-read, another engine) is dropped again.
    book.apply_events(_cycle("CHATTY", 1000))
    assert len(book) <= per_day + 4 and book.get(alarm_id_for("CHATTY", at(1000))) is None
    assert book.event_count <= 3 * (per_day + 2) + 3


def test_without_a_retention_every_alarm_is_kept():
    book = AlarmBook()
    for k in range(200):
        book.apply_events(_cycle("CHATTY", k * 86400))
    assert len(book) == 200
