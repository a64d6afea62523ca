"""The fold's total order of events (eventlog.model.Event.sort_key), for alarms and notes."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from coptwin.alarms.model import AlarmEvent
from coptwin.annotations.model import AnnotationEvent

T0 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


def _alarm(**kw) -> AlarmEvent:
    base = AlarmEvent("e1", "raised", T0, "system", "a1", "s1", "air", "alarm", 31.0, "high")
    return replace(base, **kw)


def test_time_then_event_id_decide_first():
    later = _alarm(ts=T0 + timedelta(seconds=1), event_id="a")
    assert _alarm(event_id="z").sort_key() < later.sort_key()
    assert _alarm(event_id="a").sort_key() < _alarm(event_id="b").sort_key()


def test_a_tie_of_time_and_id_is_broken_by_every_field_missing_first():
    same = _alarm()
    assert same.sort_key() == _alarm().sort_key()
    assert not same.sort_key() < _alarm().sort_key()
    assert _alarm(value=None).sort_key() < same.sort_key()  # missing before any value
    assert same.sort_key() < _alarm(reason="higher").sort_key()
    assert _alarm(until=None).sort_key() < _alarm(until=T0).sort_key()
    events = [_alarm(reason="b"), _alarm(reason=None), _alarm(reason="a")]
    assert [e.reason for e in sorted(events, key=AlarmEvent.sort_key)] == [None, "a", "b"]


def test_notes_order_by_their_own_time_field():
    note = AnnotationEvent("n1", "e2", "created", T0, "ann", "sensor:s1", "text")
    earlier = replace(note, event_id="e9", created_at=T0 - timedelta(seconds=1))
    assert earlier.sort_key() < note.sort_key()
    assert replace(note, text=None).sort_key() < note.sort_key()
