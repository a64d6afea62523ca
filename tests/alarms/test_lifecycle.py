"""Every lifecycle transition, written through the store and read back through the fold,
and every refused transition (nothing written)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from coptwin.alarms.model import AlarmError
from coptwin.alarms.store import AlarmStore

from .conftest import T0, at, system

S = "W-12"
A = f"{S}@2025-03-01T12:00:00Z"


def _state(store: AlarmStore, alarm_id: str = A) -> str:
    book = store.book()
    return book.state_of(book.get(alarm_id), store.now())


def _raise(store: AlarmStore, sensor: str = S, seconds: float = 0) -> str:
    e = system("raised", sensor, seconds)
    store.append([e])
    return e.alarm_id


def test_raise_ack_return_closes(store, clock):
    assert _raise(store) == A
    assert _state(store) == "unacknowledged-active"
    clock.advance(60)
    store.acknowledge(A, "ann", "on my way")
    assert _state(store) == "acknowledged-active"
    alarm = store.book().get(A)
    assert (alarm.acked_by, alarm.ack_note, alarm.acked_at) == ("ann", "on my way", at(60))
    store.append([system("returned", S, 120, raised=0)])
    assert _state(store) == "closed"
    assert store.book().get(A).closed_at == at(120)


def test_return_then_ack_closes(store, clock):
    _raise(store)
    store.append([system("returned", S, 30, raised=0)])
    assert _state(store) == "unacknowledged-returned"
    clock.advance(60)
    store.acknowledge(A, "bob")
    alarm = store.book().get(A)
    assert _state(store) == "closed" and alarm.closed_at == at(60) and alarm.returned_at == at(30)


def test_repeat_reactivates_and_counts(store):
    _raise(store)
    for t in (10, 30, 50):
        store.append([system("returned", S, t, raised=0)])
        store.append([system("repeated", S, t + 10, raised=0, value=13.0 + t)])
    alarm = store.book().get(A)
    assert alarm.repeats == 3 and alarm.active and alarm.value == 63.0
    assert _state(store) == "unacknowledged-active"
    assert len(store.book()) == 1  # one alarm, not four


def test_closed_alarm_is_history_and_a_new_raise_is_a_new_alarm(store, clock):
    _raise(store)
    store.append([system("returned", S, 10, raised=0)])
    clock.advance(20)
    store.acknowledge(A, "ann")
    second = _raise(store, seconds=100)
    book = store.book()
    assert second != A and book.open_for(S).alarm_id == second
    assert [a.alarm_id for a in book] == [A, second]
    assert [a.alarm_id for a, _ in book.listing(clock())] == [second]


def test_shelve_until_expires_by_itself(store, clock):
    _raise(store)
    clock.advance(10)
    store.shelve(A, "ann", "known bad overnight", until=at(3600))
    assert _state(store) == "shelved"
    alarm = store.book().get(A)
    assert (alarm.shelved_by, alarm.shelve_reason, alarm.shelved_until) == (
        "ann",
        "known bad overnight",
        at(3600),
    )
    # The condition may still return while shelved; the alarm resumes beneath.
    store.append([system("returned", S, 600, raised=0)])
    assert _state(store) == "shelved"
    clock.advance(3600)
    assert _state(store) == "unacknowledged-returned"


def test_unshelve_resumes_the_state_beneath(store, clock):
    _raise(store)
    clock.advance(5)
    store.acknowledge(A, "ann")
    store.shelve(A, "ann", "pump maintenance", until=clock() + timedelta(hours=2))
    assert _state(store) == "shelved"
    clock.advance(60)
    store.unshelve(A, "bob", "maintenance done")
    assert _state(store) == "acknowledged-active"
    assert [e.event for e in store.book().history(A)] == [
        "raised",
        "acknowledged",
        "shelved",
        "unshelved",
    ]
    assert [e.author for e in store.book().history(A)] == ["coptwin", "ann", "ann", "bob"]


@pytest.mark.parametrize("scope", ["sensor", "layer"])
def test_out_of_service_by_sensor_or_layer_and_back(store, clock, scope):
    _raise(store)
    target = {"sensor_id": S} if scope == "sensor" else {"layer": "water"}
    store.set_service(True, "tech", "replacing the gauge", **target)
    assert _state(store) == "out-of-service"
    book = store.book()
    assert book.is_out_of_service(S, "water")
    assert [(s.kind, s.reason) for s in book.scopes()] == [(scope, "replacing the gauge")]
    assert not book.is_out_of_service("other", "air")
    clock.advance(60)
    store.set_service(False, "tech", **target)
    assert _state(store) == "unacknowledged-active" and store.book().scopes() == []


def _refused(store: AlarmStore, call, match: str) -> None:
    version = store.version()
    with pytest.raises(AlarmError, match=match):
        call()
    assert store.version() == version, "a refused transition wrote something"


def test_refused_transitions_write_nothing(store, clock):
    _raise(store)
    closed = _raise(store, sensor="T-1", seconds=1)
    store.append([system("returned", "T-1", 2, raised=1)])
    clock.advance(10)
    store.acknowledge(closed, "ann")
    store.acknowledge(A, "ann")
    store.set_service(True, "tech", "maintenance", layer="air")
    refused = [
        (lambda: store.acknowledge(closed, "bob"), "is closed"),
        (lambda: store.acknowledge(A, "bob"), "already acknowledged by ann"),
        (lambda: store.acknowledge("nope@2025", "bob"), "unknown alarm"),
        (lambda: store.acknowledge(A, "  "), "missing author"),
        (lambda: store.acknowledge([], "bob"), "missing alarm id"),
        (lambda: store.unshelve(A, "bob"), "is not shelved"),
        (lambda: store.shelve(A, "bob", "", until=at(600)), "needs a reason"),
        (lambda: store.shelve(A, "bob", "why", until=at(5)), "not in the future"),
        (lambda: store.shelve(A, "bob", "why", until=at(10)), "not in the future"),
        (lambda: store.shelve(A, "bob", "why", until=at(10 + 86401)), "at most 24 h"),
        (lambda: store.shelve(A, "bob", "why", until=at(600).replace(tzinfo=None)), "zone"),
        (lambda: store.shelve(closed, "bob", "why", until=at(600)), "is closed"),
        (lambda: store.shelve(A, "bob", "x" * 501, until=at(600)), "too long"),
        (lambda: store.shelve(A, "bob", "bell\x07", until=at(600)), "control characters"),
        (lambda: store.set_service(True, "tech", "", sensor_id=S), "needs a reason"),
        (lambda: store.set_service(True, "tech", "again", layer="air"), "already out of"),
        (lambda: store.set_service(True, "tech", "x", sensor_id=S, layer="a"), "either"),
        (lambda: store.set_service(True, "tech", "x"), "either"),
        (lambda: store.set_service(False, "tech", sensor_id=S), "not out of service"),
    ]
    for call, match in refused:
        _refused(store, call, match)


def test_shelving_twice_and_unshelving_an_expired_shelving_are_refused(store, clock):
    _raise(store)
    store.shelve(A, "ann", "overnight", until=at(600))
    _refused(store, lambda: store.shelve(A, "bob", "longer", until=at(900)), "already shelved")
    clock.advance(700)
    _refused(store, lambda: store.unshelve(A, "bob"), "shelving ended at 2025-03-01T12:10:00Z")
    store.shelve(A, "bob", "another night", until=at(1600))  # a new shelving is fine
    assert _state(store) == "shelved"


def test_several_alarms_in_one_commit_all_or_nothing(store, clock):
    a = _raise(store, "S-1")
    b = _raise(store, "S-2")
    c = _raise(store, "S-3")
    store.acknowledge(c, "ann")
    version = store.version()
    with pytest.raises(AlarmError, match="already acknowledged"):
        store.acknowledge([a, b, c], "bob")
    assert store.version() == version
    events = store.acknowledge([a, b, a], "bob")
    assert len(events) == 2 and store.version() == version + 1
    assert all(store.book().get(i).acked for i in (a, b, c))


def test_time_travel_by_version_shows_the_alarms_as_they_were(store, clock):
    _raise(store)
    v_raised = store.version()
    clock.advance(30)
    store.shelve(A, "ann", "overnight", until=at(3600))
    v_shelved = store.version()
    clock.advance(30)
    store.unshelve(A, "ann")
    store.acknowledge(A, "ann")
    then = store.load(version=v_raised)
    assert then.state_of(then.get(A), clock()) == "unacknowledged-active"
    mid = store.load(version=v_shelved)
    assert mid.state_of(mid.get(A), clock()) == "shelved"
    now = store.load()
    assert now.state_of(now.get(A), clock()) == "acknowledged-active"
    assert store.as_of_time(version=v_raised) <= store.as_of_time(version=store.version())


def test_time_travel_by_time(tmp_path):
    import time

    from coptwin.alarms.model import utc_now

    store = AlarmStore(str(tmp_path / "alarms"))
    start = utc_now()
    e = system("raised", S, 0)
    from dataclasses import replace

    from coptwin.alarms.model import alarm_id_for, system_event_id

    e = replace(
        e,
        ts=start,
        alarm_id=alarm_id_for(S, start),
        event_id=system_event_id(S, "raised", start),
    )
    store.append([e])
    store.shelve(e.alarm_id, "ann", "overnight", until=start + timedelta(hours=1))
    time.sleep(0.05)
    wall = utc_now()
    time.sleep(0.05)
    store.acknowledge(e.alarm_id, "bob")
    then = store.load(as_of=wall)
    alarm = then.get(e.alarm_id)
    assert then.state_of(alarm, store.as_of_time(as_of=wall)) == "shelved" and not alarm.acked
    assert store.load().get(e.alarm_id).acked


def test_table_is_append_only_and_created_on_first_write(store):
    from deltalake import DeltaTable

    assert store.version() is None and len(store.book()) == 0
    _raise(store)
    assert DeltaTable(store.uri).metadata().configuration.get("delta.appendOnly") == "true"


def test_start_time_constant_is_utc():
    assert T0.utcoffset() == timedelta(0)
