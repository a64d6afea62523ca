"""Value types of operators' alarms: events, the folded alarm, out-of-service scopes.

Alarms are event-sourced like the reviewers' notes: every row of the
``alarms`` Delta table is one immutable :class:`AlarmEvent` (who, when, why),
and an alarm's current state (:class:`Alarm`) is a fold of its events (see
:mod:`.lifecycle` for the transitions and :mod:`.fold` for the book).

Identifiers.  Transitions the engine detects (raise, repeat, return) get
deterministic ids, so several engines (Kit sessions and a headless server)
that detect the same transition write duplicates the fold ignores:

- alarm id: ``<sensor_id>@<raise time>``, e.g. ``W-12@2025-03-01T12:00:00Z``;
- system event id: ``<sensor_id>@<reading time>/<event>``.

Times are ISO-8601 UTC with only as many fraction digits as needed (0, 3 or
6; :func:`iso_z`, and the evaluator's vectorised copy of it, the text polars
writes with ``%.f``).  Operators' events (acknowledge, shelve, ...) get random ids.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from coptwin.eventlog import model as _events
from coptwin.eventlog.model import CONTROL as _CONTROL
from coptwin.eventlog.model import EventError
from coptwin.eventlog.model import utc_now as utc_now  # re-exported: the packages' clock

# ---- events (the ``event`` column) -----------------------------------------------------
RAISED = "raised"
REPEATED = "repeated"
RETURNED = "returned"
ACKNOWLEDGED = "acknowledged"
SHELVED = "shelved"
UNSHELVED = "unshelved"
OUT_OF_SERVICE = "out_of_service"
IN_SERVICE = "in_service"

#: Transitions the engine detects from readings.
SYSTEM_EVENTS: tuple[str, ...] = (RAISED, REPEATED, RETURNED)
#: Transitions of one alarm.
ALARM_EVENTS: tuple[str, ...] = (*SYSTEM_EVENTS, ACKNOWLEDGED, SHELVED, UNSHELVED)
#: Transitions of a sensor's or a layer's service (maintenance) state.
SERVICE_EVENTS: tuple[str, ...] = (OUT_OF_SERVICE, IN_SERVICE)
EVENTS: tuple[str, ...] = (*ALARM_EVENTS, *SERVICE_EVENTS)

# ---- states (ISA-18.2 / IEC 62682) ------------------------------------------------------
UNACK_ACTIVE = "unacknowledged-active"
ACK_ACTIVE = "acknowledged-active"
UNACK_RETURNED = "unacknowledged-returned"
STATE_SHELVED = "shelved"
STATE_OUT_OF_SERVICE = "out-of-service"
CLOSED = "closed"
#: Listing order: active first, unacknowledged before acknowledged, closed last.
STATES: tuple[str, ...] = (
    UNACK_ACTIVE,
    ACK_ACTIVE,
    UNACK_RETURNED,
    STATE_SHELVED,
    STATE_OUT_OF_SERVICE,
    CLOSED,
)
#: States that still need an operator (everything but closed).
OPEN_STATES: tuple[str, ...] = STATES[:-1]
#: States awaiting acknowledgement (the marker's ring, the badge).
UNACKNOWLEDGED: tuple[str, ...] = (UNACK_ACTIVE, UNACK_RETURNED)


class AlarmError(EventError):
    """Bad alarm input or a refused transition; nothing was written."""


def iso_z(when: datetime) -> str:
    """``2025-03-01T12:00:00Z`` / ``...00.500Z`` / ``...00.000123Z`` (as polars' ``%.f``)."""
    when = when.astimezone(timezone.utc)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    us = when.microsecond
    if us == 0:
        return text + "Z"
    if us % 1000 == 0:
        return f"{text}.{us // 1000:03d}Z"
    return f"{text}.{us:06d}Z"


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])", re.IGNORECASE)
_UNIT_S = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def duration(text: str) -> timedelta:
    """``8h``, ``30m``, ``1h30m``, ``2d``, ``90s`` -> a positive duration."""
    cleaned = text.strip().replace(" ", "")
    parts = _DURATION.findall(cleaned)
    if not parts or "".join(n + u for n, u in parts).lower() != cleaned.lower():
        raise AlarmError(f"{text!r} is not a duration like 8h, 30m, 1h30m or 2d")
    seconds = sum(float(n) * _UNIT_S[u.lower()] for n, u in parts)
    if seconds <= 0:
        raise AlarmError("the duration must be positive")
    return timedelta(seconds=seconds)


def shelve_until(text: str, now: datetime) -> datetime:
    """When a shelving typed by an operator ends: a duration from ``now`` (``8h``) or an
    ISO-8601 time (UTC when it names no zone)."""
    text = (text or "").strip()
    if not text:
        raise AlarmError("shelve: say until when (a duration like 8h, or a time)")
    if _DURATION.match(text.replace(" ", "")):
        return now + duration(text)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AlarmError(
            f"shelve: {text!r} is neither a duration like 8h nor a time like 2026-11-27T08:00Z"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def alarm_id_for(sensor_id: str, raised_at: datetime) -> str:
    """The deterministic id of the alarm a sensor raised at ``raised_at``."""
    return f"{sensor_id}@{iso_z(raised_at)}"


def system_event_id(sensor_id: str, event: str, ts: datetime) -> str:
    """The deterministic id of a transition detected from the reading at ``ts``."""
    return f"{sensor_id}@{iso_z(ts)}/{event}"


def check_author(author: object) -> str:
    """The author name, stripped, or a clear error (every transition has an author)."""
    return _events.check_author(
        author, AlarmError, "say who you are (e.g. --author or $COPTWIN_AUTHOR)"
    )


def check_reason(reason: object, max_length: int, *, required: bool, what: str) -> str | None:
    """A reason as it will be stored (stripped), None when optional and absent."""
    if reason is None or (isinstance(reason, str) and not reason.strip()):
        if required:
            raise AlarmError(f"{what} needs a reason (why; e.g. --reason 'sensor being replaced')")
        return None
    if not isinstance(reason, str):
        raise AlarmError(f"{what}: the reason must be text")
    reason = reason.strip()
    if len(reason) > max_length:
        raise AlarmError(
            f"{what}: reason too long ({len(reason)} characters, at most {max_length}; "
            "alarms.max_reason_length)"
        )
    if _CONTROL.search(reason):
        raise AlarmError(f"{what}: the reason contains control characters; plain text only")
    return reason


@dataclass(frozen=True)
class AlarmEvent(_events.Event):
    """One row of the alarms table (canonical column names)."""

    time_field = "ts"

    event_id: str
    event: str
    ts: datetime
    author: str
    #: The alarm this event belongs to; None for out-of-service / in-service events.
    alarm_id: str | None = None
    #: The sensor (alarm events; a sensor's service events).
    sensor_id: str | None = None
    #: The sensor's layer (alarm events, when known; a layer's service events).
    layer: str | None = None
    #: Sensor status at a raise / repeat ("alarm", "warn", "offline", ...).
    status: str | None = None
    #: Reading value at a raise / repeat / return (NaN stored as null).
    value: float | None = None
    #: Why: the rule's reason for system events, the operator's for others.
    reason: str | None = None
    #: End of a shelving.
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.value is not None and not math.isfinite(self.value):
            object.__setattr__(self, "value", None)

    @property
    def is_service(self) -> bool:
        return self.event in SERVICE_EVENTS


@dataclass(frozen=True)
class Alarm:
    """The folded state of one alarm; :meth:`state` names its ISA-18.2 state."""

    alarm_id: str
    sensor_id: str
    layer: str | None
    #: Status that raised it, updated by repeats ("alarm", "warn", "offline", "stale").
    status: str | None
    raised_at: datetime
    #: The rule's reason at the latest raise / repeat, and the reading's value.
    reason: str | None = None
    value: float | None = None
    #: The condition is present (raised or repeated, not returned since).
    active: bool = True
    #: Latest time the condition (re-)entered.
    active_at: datetime | None = None
    returned_at: datetime | None = None
    #: Times the condition came back after returning, before the alarm closed.
    repeats: int = 0
    acked: bool = False
    acked_at: datetime | None = None
    acked_by: str | None = None
    ack_note: str | None = None
    shelved_until: datetime | None = None
    shelved_at: datetime | None = None
    shelved_by: str | None = None
    shelve_reason: str | None = None
    #: Acknowledged and returned: nothing more to do; later events are ignored.
    closed_at: datetime | None = None
    #: Time and author of the latest event applied.
    updated_at: datetime | None = None
    updated_by: str | None = None
    #: Events applied, and events of its log that were not valid transitions.
    events: int = 1
    ignored: int = 0

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def __eq__(self, other: object) -> bool:
        """Field by field like the dataclass' own (the fields are the ``__dict__``), in
        one step: the fold compares every state it makes with the one before."""
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.__dict__ == other.__dict__

    def evolve(self, **change: object) -> Alarm:
        """A copy with ``change`` applied: :func:`dataclasses.replace` without re-running
        ``__init__`` for all 24 fields (the fold does one per event; several times cheaper)."""
        values = {**self.__dict__, **change}
        if len(values) != len(self.__dict__):  # a name that is no field was added
            raise TypeError(f"Alarm has no field(s) {sorted(values.keys() - self.__dict__.keys())}")
        new = object.__new__(Alarm)
        object.__setattr__(new, "__dict__", values)
        return new

    def shelved(self, now: datetime) -> bool:
        """Shelved at ``now`` (a shelving ends by itself at its ``until``)."""
        return self.shelved_until is not None and now < self.shelved_until

    def state(self, now: datetime, out_of_service: bool = False) -> str:
        """The ISA-18.2 state at ``now``; ``out_of_service``: its sensor or layer is."""
        if self.closed:
            return CLOSED
        if out_of_service:
            return STATE_OUT_OF_SERVICE
        if self.shelved(now):
            return STATE_SHELVED
        if self.active:
            return ACK_ACTIVE if self.acked else UNACK_ACTIVE
        return UNACK_RETURNED


@dataclass(frozen=True)
class ServiceScope:
    """A sensor or a layer taken out of service for maintenance (its alarms are muted)."""

    kind: str  # "sensor" | "layer"
    name: str
    out: bool
    since: datetime
    by: str
    reason: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return service_key(self.kind, self.name)


def service_key(kind: str, name: str) -> tuple[str, str, str]:
    """The fold's entity key of a service scope (never equal to an alarm id string)."""
    return ("service", kind, name)
