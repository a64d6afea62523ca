"""The alarm lifecycle: which transition is valid in which state, and what it does.

One table of rules serves both sides: the store refuses an invalid transition
with a clear :class:`InvalidTransition` before anything is written, and the
fold skips (and counts) an invalid event it finds in the table, e.g. two
operators acknowledging the same alarm at the same moment.

::

    raised ─▶ unacknowledged-active ──ack──▶ acknowledged-active
                   │   ▲                            │
             return│   │repeat                return│
                   ▼   │                            ▼
          unacknowledged-returned ─────ack─────▶ closed

Shelving (until a time, with a reason) and out of service (a sensor or a layer)
mute an open alarm without changing the lifecycle beneath: the condition may
still return or repeat, and the alarm resumes its state when the shelving ends
(at its ``until`` or by unshelve) or the scope returns to service.
"""

from __future__ import annotations

from coptwin.alarms.model import (
    ACKNOWLEDGED,
    IN_SERVICE,
    OUT_OF_SERVICE,
    RAISED,
    REPEATED,
    RETURNED,
    SHELVED,
    UNSHELVED,
    Alarm,
    AlarmError,
    AlarmEvent,
    ServiceScope,
    iso_z,
)


class InvalidTransition(AlarmError):
    """This event is not valid in the alarm's (or scope's) current state."""


def _when(t) -> str:
    return iso_z(t) if t is not None else "?"


def transition(alarm: Alarm | None, e: AlarmEvent) -> Alarm:
    """The alarm after ``e``; raises :class:`InvalidTransition` when ``e`` is refused."""
    if e.event == RAISED:
        if alarm is not None:
            raise InvalidTransition(f"alarm {e.alarm_id} was already raised")
        raised = Alarm(e.alarm_id or "", e.sensor_id or "", e.layer, e.status, e.ts, e.reason)
        return raised.evolve(value=e.value, active_at=e.ts, updated_at=e.ts, updated_by=e.author)
    if alarm is None:
        raise InvalidTransition(f"unknown alarm {e.alarm_id!r}")
    if alarm.closed:
        raise InvalidTransition(
            f"alarm {alarm.alarm_id} is closed (since {_when(alarm.closed_at)}); "
            f"nothing to {_VERB.get(e.event, e.event)}"
        )
    if e.event == REPEATED:
        if alarm.active:
            raise InvalidTransition(f"alarm {alarm.alarm_id} is still active; it cannot repeat")
        change = {
            "active": True,
            "active_at": e.ts,
            "repeats": alarm.repeats + 1,
            "status": e.status or alarm.status,
            "reason": e.reason or alarm.reason,
            "value": e.value,
        }
    elif e.event == RETURNED:
        if not alarm.active:
            raise InvalidTransition(
                f"alarm {alarm.alarm_id} already returned at {_when(alarm.returned_at)}"
            )
        change = {"active": False, "returned_at": e.ts}
        if alarm.acked:
            change["closed_at"] = e.ts
    elif e.event == ACKNOWLEDGED:
        if alarm.acked:
            raise InvalidTransition(
                f"alarm {alarm.alarm_id} was already acknowledged by {alarm.acked_by} "
                f"at {_when(alarm.acked_at)}"
            )
        change = {"acked": True, "acked_at": e.ts, "acked_by": e.author, "ack_note": e.reason}
        if not alarm.active:
            change["closed_at"] = e.ts
    elif e.event == SHELVED:
        if e.until is None or e.until <= e.ts:
            raise InvalidTransition(f"shelving {alarm.alarm_id} needs an end time in the future")
        if alarm.shelved(e.ts):
            raise InvalidTransition(
                f"alarm {alarm.alarm_id} is already shelved until {_when(alarm.shelved_until)} "
                f"by {alarm.shelved_by}; unshelve it first to change that"
            )
        change = {
            "shelved_until": e.until,
            "shelved_at": e.ts,
            "shelved_by": e.author,
            "shelve_reason": e.reason,
        }
    elif e.event == UNSHELVED:
        if not alarm.shelved(e.ts):
            ended = (
                f" (its shelving ended at {_when(alarm.shelved_until)})"
                if alarm.shelved_until is not None
                else ""
            )
            raise InvalidTransition(f"alarm {alarm.alarm_id} is not shelved{ended}")
        change = {"shelved_until": None, "shelved_at": None, "shelved_by": None}
        change["shelve_reason"] = None
    else:
        raise InvalidTransition(f"{e.event!r} is not an alarm transition")
    return alarm.evolve(**change, events=alarm.events + 1, updated_at=e.ts, updated_by=e.author)


def service_transition(scope: ServiceScope | None, e: AlarmEvent) -> ServiceScope:
    """A sensor's or layer's service state after ``e`` (:class:`InvalidTransition` if refused)."""
    kind, name = ("sensor", e.sensor_id) if e.sensor_id else ("layer", e.layer)
    what = f"{kind} {name!r}"
    if e.event == OUT_OF_SERVICE:
        if scope is not None and scope.out:
            raise InvalidTransition(
                f"{what} is already out of service since {_when(scope.since)} ({scope.by})"
            )
        return ServiceScope(kind, name or "", True, e.ts, e.author, e.reason)
    if e.event == IN_SERVICE:
        if scope is None or not scope.out:
            raise InvalidTransition(f"{what} is not out of service")
        return ServiceScope(kind, name or "", False, e.ts, e.author, e.reason)
    raise InvalidTransition(f"{e.event!r} is not a service transition")


_VERB = {
    ACKNOWLEDGED: "acknowledge",
    SHELVED: "shelve",
    UNSHELVED: "unshelve",
    REPEATED: "repeat",
    RETURNED: "return",
}
