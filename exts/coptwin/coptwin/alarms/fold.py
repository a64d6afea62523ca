"""All alarms and out-of-service scopes as a deterministic fold of the alarms table.

Deduplication by ``event_id`` and the replay order (time, then event id) are
:class:`coptwin.eventlog.FoldedBook`'s; this module says what an alarm event
means (:func:`coptwin.alarms.lifecycle.transition`).  An alarm's ``raised``
event is applied first even when another writer's clock stamped an
acknowledgement slightly earlier; an event that is not a valid transition
where it falls (two operators acknowledging at once, a repeat racing a close)
is skipped and counted on the alarm (``Alarm.ignored``), so any order and any
number of copies of the same events fold to the same state.

Time travel: a book folded from the table as of a version or a time (see
:meth:`coptwin.alarms.store.AlarmStore.load`) is the alarms as they were;
ask it for states at that time.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import fields, replace
from datetime import datetime, timedelta, timezone

import polars as pl

from coptwin.alarms.lifecycle import InvalidTransition, service_transition, transition
from coptwin.alarms.model import (
    ALARM_EVENTS,
    EVENTS,
    OPEN_STATES,
    RAISED,
    SHELVED,
    STATES,
    Alarm,
    AlarmEvent,
    ServiceScope,
    service_key,
)
from coptwin.alarms.schema import EVENT_SCHEMA
from coptwin.eventlog.fold import ApplyResult, FoldedBook, row_problem

log = logging.getLogger(__name__)

__all__ = ["AlarmBook", "ApplyResult", "fold_alarm", "fold_scope"]


def _row_problem(row: dict) -> str | None:
    """Why a table row cannot be an alarm event (None when it is fine)."""
    common = row_problem(row, EVENTS, "ts")
    if common:
        return common
    event = row["event"]
    if event in ALARM_EVENTS:
        if not row.get("alarm_id"):
            return "missing_alarm_id"
        if event == RAISED and not row.get("sensor_id"):
            return "missing_sensor_id"
        if event == SHELVED and not isinstance(row.get("until"), datetime):
            return "missing_until"
    elif bool(row.get("sensor_id")) == bool(row.get("layer")):
        return "service_needs_sensor_or_layer"
    return None


def fold_alarm(events: Iterable[AlarmEvent]) -> Alarm | None:
    """One alarm from its events; None while its ``raised`` event is unknown."""
    ordered = sorted(events, key=AlarmEvent.sort_key)
    raised = next((e for e in ordered if e.event == RAISED), None)
    if raised is None:
        return None
    return advance_alarm(transition(None, raised), (e for e in ordered if e is not raised))


def advance_alarm(alarm: Alarm, events: Iterable[AlarmEvent]) -> Alarm:
    """``alarm`` after further events in fold order; invalid ones are counted, not applied."""
    ignored = alarm.ignored
    for e in events:
        try:
            alarm = transition(alarm, e)
        except InvalidTransition:
            ignored += 1
    return replace(alarm, ignored=ignored) if ignored != alarm.ignored else alarm


def fold_scope(events: Iterable[AlarmEvent]) -> ServiceScope | None:
    """A sensor's or layer's service state from its events (None: never taken out)."""
    scope: ServiceScope | None = None
    for e in sorted(events, key=AlarmEvent.sort_key):
        with contextlib.suppress(InvalidTransition):  # e.g. two operators at once
            scope = service_transition(scope, e)
    return scope


#: AlarmEvent's fields in their order (the table's columns, in another order).
_EVENT_FIELDS = tuple(f.name for f in fields(AlarmEvent))


def _rank(state: str) -> int:
    return STATES.index(state)


class AlarmBook(FoldedBook[AlarmEvent, "Alarm | ServiceScope"]):
    """Every alarm and every out-of-service scope, folded from events.

    Fed like the annotation book: :meth:`apply` (canonical frames, e.g. a
    watcher batch through ``EVENT_SCHEMA.to_canonical``), :meth:`apply_batch`,
    or :meth:`apply_events` for events written locally.  ``ApplyResult.changed``
    holds alarm ids (strings) and service keys (tuples).

    ``keep_closed``: a long-running engine's book forgets an alarm (state and events)
    that closed longer ago than this before the newest event it folded, so memory stays
    bounded; the table keeps it (``coptwin alarms`` reads the table).  Open alarms are
    never dropped.  None: keep everything (a CLI's one-off fold of the table).
    """

    schema = EVENT_SCHEMA
    event_type = AlarmEvent

    def __init__(self, keep_closed: timedelta | None = None) -> None:
        self.keep_closed = keep_closed
        #: Newest event time folded (not after the wall clock): the retention's "now".
        self._newest: datetime | None = None
        self._open: dict[str, set[str]] = {}
        #: Closed alarms' ids -> when they closed (what the retention may forget).
        self._closed: dict[str, datetime] = {}
        #: Open alarms' ids -> the end of their shelving (past ones too).
        self._shelved: dict[str, datetime] = {}
        self._out_sensors: set[str] = set()
        self._out_layers: set[str] = set()
        super().__init__()

    # ---- what a row means ----------------------------------------------------
    def _problem(self, row: dict) -> str | None:
        return _row_problem(row)

    def _entity(self, event: AlarmEvent) -> Hashable:
        if event.is_service:
            if event.sensor_id:
                return service_key("sensor", event.sensor_id)
            return service_key("layer", event.layer or "")
        return event.alarm_id

    def _fold(self, key: Hashable, events: list[AlarmEvent]) -> Alarm | ServiceScope | None:
        return fold_scope(events) if isinstance(key, tuple) else fold_alarm(events)

    def _advance(self, key: Hashable, state, events: list[AlarmEvent]):
        if isinstance(state, Alarm):
            return advance_alarm(state, events)
        return None  # scopes have short histories: replay

    def _state_changed(self, key: Hashable, old, new) -> None:
        if isinstance(key, tuple):
            out = self._out_sensors if key[1] == "sensor" else self._out_layers
            if new is not None and new.out:
                out.add(key[2])
            else:
                out.discard(key[2])
            return
        was_open = old is not None and not old.closed
        is_open = new is not None and not new.closed
        if new is not None and not is_open:
            self._closed[key] = new.closed_at
        else:
            self._closed.pop(key, None)
        if is_open and new.shelved_until is not None:
            self._shelved[key] = new.shelved_until
        else:
            self._shelved.pop(key, None)
        if was_open and is_open:
            return  # open before and after: the same alarm of the same sensor
        for alarm, add in ((old, False), (new, True)):
            if alarm is None or alarm.closed:
                continue
            ids = self._open.setdefault(alarm.sensor_id, set())
            if add:
                ids.add(alarm.alarm_id)
            else:
                ids.discard(alarm.alarm_id)
                if not ids:
                    del self._open[alarm.sensor_id]

    def apply_transitions(self, frame: pl.DataFrame) -> ApplyResult:
        """Fold the evaluator's own transitions (its canonical frame of valid rows).

        The bulk path of the engine's tick; the book comes out as :meth:`apply` (the
        path of table reads, where rows may be bad) makes it of the same rows.  Events
        come straight from the columns, without row dicts and row checks, and the usual
        transition, the next event of an alarm the book holds (new, sorting after that
        alarm's events so far), is applied to the alarm as it is: what the general fold
        does for it, without its bookkeeping.  Anything else (a raise, a copy of a known
        event, an event sorting earlier) takes the general fold.
        """
        columns = [frame[c].to_list() for c in _EVENT_FIELDS]
        events = [AlarmEvent(*row) for row in zip(*columns, strict=True)]
        states, last, known = self._states, self._last, self._events
        rest: list[AlarmEvent] = []
        changed: set[Hashable] = set()
        for e in events:
            key = e.alarm_id
            alarm, newest = states.get(key), last.get(key)
            order = e.sort_key()
            if alarm is None or newest is None or e.event_id in known or not order > newest:
                rest.append(e)
                continue
            known[e.event_id] = e
            self._by_entity[key].add(e.event_id)
            last[key] = order
            states[key] = new = advance_alarm(alarm, (e,))
            if new != alarm:
                changed.add(key)
                self._state_changed(key, alarm, new)
        if changed:
            self.revision += 1
        more, applied, duplicates = super()._apply_events(rest, False)
        self._retain(events)
        changed.update(more)
        applied += len(events) - len(rest)
        return ApplyResult(sorted(changed), frame.height, applied, duplicates)

    def _apply_events(self, events: list[AlarmEvent], full_reload: bool) -> tuple[list, int, int]:
        out = super()._apply_events(events, full_reload)
        self._retain(events)
        return out

    def _retain(self, events: list[AlarmEvent]) -> None:
        """Forget alarms closed longer than ``keep_closed`` before the newest event."""
        if self.keep_closed is not None and events:
            newest = min(max(e.ts for e in events), datetime.now(timezone.utc))
            self._newest = newest if self._newest is None else max(self._newest, newest)
            self._forget(self._newest - self.keep_closed)

    def _forget(self, horizon: datetime) -> None:
        """Drop alarms closed before ``horizon``, and events of alarms the book no longer
        holds (a copy of a dropped alarm's events) that are older than it."""
        gone = [key for key, closed_at in self._closed.items() if closed_at < horizon]
        orphans = self._by_entity.keys() - self._states.keys()  # events of no alarm (yet)
        gone += [
            key
            for key in orphans
            if isinstance(key, str)
            and all(self._events[i].ts < horizon for i in self._by_entity[key])
        ]
        for key in gone:
            for i in self._by_entity.pop(key):
                del self._events[i]
            self._states.pop(key, None)
            self._last.pop(key, None)
            self._closed.pop(key, None)
        if gone:
            self.revision += 1
            log.debug("alarms: %d closed alarms older than %s left memory", len(gone), horizon)

    def _cleared(self) -> None:
        self._open.clear()
        self._closed.clear()
        self._shelved.clear()
        self._out_sensors.clear()
        self._out_layers.clear()

    # ---- alarms -------------------------------------------------------------
    def get(self, alarm_id: str) -> Alarm | None:
        state = self._states.get(alarm_id)
        return state if isinstance(state, Alarm) else None

    def __contains__(self, alarm_id: object) -> bool:
        return isinstance(alarm_id, str) and alarm_id in self._states

    def __iter__(self) -> Iterator[Alarm]:
        """Every alarm (closed ones too), oldest first."""
        alarms = (s for s in self._states.values() if isinstance(s, Alarm))
        return iter(sorted(alarms, key=lambda a: (a.raised_at, a.alarm_id)))

    def as_of(self, when: datetime) -> AlarmBook:
        """The alarms as they were at ``when``: a book of the events up to then (events
        replay in time order, so this is exactly the state at that moment)."""
        past = AlarmBook()
        past.apply_events(e for e in self._events.values() if e.ts <= when)
        return past

    def open_for(self, sensor_id: str) -> Alarm | None:
        """The sensor's newest alarm that is not closed (None: no open alarm)."""
        ids = self._open.get(sensor_id)
        if not ids:
            return None
        if len(ids) == 1:  # the usual case
            return self._states[next(iter(ids))]
        alarms = [self._states[i] for i in ids]
        return max(alarms, key=lambda a: (a.raised_at, a.alarm_id), default=None)

    def shelving_ends(self) -> list[datetime]:
        """When the shelvings of open alarms end (past ones too), without a look at the rest."""
        return list(self._shelved.values())

    def open_alarms(self) -> list[Alarm]:
        return [a for ids in self._open.values() for a in (self._states[i] for i in ids)]

    # ---- service ------------------------------------------------------------
    def scopes(self, *, back_in_service: bool = False) -> list[ServiceScope]:
        """Sensors and layers out of service now (also those back, if asked), by kind, name."""
        out = (
            s
            for s in self._states.values()
            if isinstance(s, ServiceScope) and (s.out or back_in_service)
        )
        return sorted(out, key=lambda s: (s.kind, s.name))

    def scope(self, kind: str, name: str) -> ServiceScope | None:
        state = self._states.get(service_key(kind, name))
        return state if isinstance(state, ServiceScope) else None

    @property
    def out_of_service_sensors(self) -> frozenset[str]:
        return frozenset(self._out_sensors)

    @property
    def out_of_service_layers(self) -> frozenset[str]:
        return frozenset(self._out_layers)

    def is_out_of_service(self, sensor_id: str, layer: str | None = None) -> bool:
        return sensor_id in self._out_sensors or (layer is not None and layer in self._out_layers)

    # ---- views --------------------------------------------------------------
    def state_of(self, alarm: Alarm, now: datetime) -> str:
        return alarm.state(now, self.is_out_of_service(alarm.sensor_id, alarm.layer))

    def listing(
        self, now: datetime, states: Iterable[str] | None = OPEN_STATES
    ) -> list[tuple[Alarm, str]]:
        """``(alarm, state)`` pairs: active first, then oldest unacknowledged first.

        ``states`` filters (default: every open state; None: all, closed too).
        """
        keep = set(states) if states is not None else None
        rows = [(a, self.state_of(a, now)) for a in self]
        rows = [(a, s) for a, s in rows if keep is None or s in keep]
        rows.sort(key=lambda r: (_rank(r[1]), r[0].raised_at, r[0].alarm_id))
        return rows

    def counts(self, now: datetime) -> dict[str, int]:
        """Open alarms per state (the status line's badge)."""
        out = dict.fromkeys(OPEN_STATES, 0)
        for ids in self._open.values():
            for i in ids:
                out[self.state_of(self._states[i], now)] += 1
        return out

    def frame(self, now: datetime, states: Iterable[str] | None = None) -> pl.DataFrame:
        """One row per alarm with its state at ``now`` (listing and CSV export)."""
        rows = self.listing(now, states)
        return pl.DataFrame(
            [
                {
                    "alarm_id": a.alarm_id,
                    "state": s,
                    "sensor_id": a.sensor_id,
                    "layer": a.layer,
                    "status": a.status,
                    "value": a.value,
                    "reason": a.reason,
                    "raised_at": a.raised_at,
                    "returned_at": a.returned_at,
                    "repeats": a.repeats,
                    "acked_by": a.acked_by,
                    "acked_at": a.acked_at,
                    "shelved_until": a.shelved_until if s == "shelved" else None,
                    "shelved_by": a.shelved_by if s == "shelved" else None,
                    "shelve_reason": a.shelve_reason if s == "shelved" else None,
                    "closed_at": a.closed_at,
                    "updated_at": a.updated_at,
                    "updated_by": a.updated_by,
                }
                for a, s in rows
            ],
            schema=FRAME_SCHEMA,
            orient="row",
        )


_TS = pl.Datetime("us", "UTC")
FRAME_SCHEMA: dict[str, pl.DataType] = {
    "alarm_id": pl.String(),
    "state": pl.String(),
    "sensor_id": pl.String(),
    "layer": pl.String(),
    "status": pl.String(),
    "value": pl.Float64(),
    "reason": pl.String(),
    "raised_at": _TS,
    "returned_at": _TS,
    "repeats": pl.Int64(),
    "acked_by": pl.String(),
    "acked_at": _TS,
    "shelved_until": _TS,
    "shelved_by": pl.String(),
    "shelve_reason": pl.String(),
    "closed_at": _TS,
    "updated_at": _TS,
    "updated_by": pl.String(),
}
