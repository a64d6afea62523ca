"""Writing alarm transitions to the shared ``alarms`` Delta table.

The table mechanics (append-only creation, commit retry on lost races,
conditional put on S3, time travel) are :class:`coptwin.eventlog.EventLog`'s.
This module validates operators' transitions against the current fold before
the first byte is written: an invalid one (acknowledge a closed alarm, unshelve
what is not shelved, shelve without a reason or until a time in the past)
raises :class:`~coptwin.alarms.model.AlarmError` and the table is unchanged.

Two operators acting at the same moment may both pass validation; the fold
applies the first transition and counts the second as ignored, so the state
is the same whichever commit lands first.  System transitions from the
evaluator are appended as they come (:meth:`AlarmStore.append_frame`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from coptwin.alarms.fold import AlarmBook
from coptwin.alarms.lifecycle import service_transition, transition
from coptwin.alarms.model import (
    ACKNOWLEDGED,
    IN_SERVICE,
    OUT_OF_SERVICE,
    SHELVED,
    UNSHELVED,
    AlarmError,
    AlarmEvent,
    ServiceScope,
    check_author,
    check_reason,
    iso_z,
)
from coptwin.eventlog.store import EventStore

#: One alarm id or several.
Ids = str | Iterable[str]


class AlarmStore(EventStore[AlarmBook]):
    """Operators' validated transitions on top of :class:`~coptwin.eventlog.EventStore`
    (which reads, follows and time-travels the table); one per writer is cheap."""

    book_type = AlarmBook
    limits = {"max_reason_length": 500, "max_shelve_s": 7 * 86400.0}
    max_reason_length: int
    max_shelve_s: float

    # ---- operators' transitions (validated against the table as it is now) -------
    def acknowledge(self, alarm_ids: Ids, author: str, note: str | None = None) -> list[AlarmEvent]:
        """ "I have seen it": acknowledge open alarms (one commit for all)."""
        note = check_reason(note, self.max_reason_length, required=False, what="acknowledge")
        return self._alarm_events(ACKNOWLEDGED, alarm_ids, author, note)

    def shelve(self, alarm_ids: Ids, author: str, reason: str, until: datetime) -> list[AlarmEvent]:
        """Mute alarms until a time, with a reason (e.g. a known-bad sensor for the night)."""
        reason = check_reason(reason, self.max_reason_length, required=True, what="shelve")
        now = self._stamp()
        if not isinstance(until, datetime) or until.tzinfo is None:
            raise AlarmError("shelve: give --until as a time with a zone, or --for a duration")
        if until <= now:
            raise AlarmError(
                f"shelve: until {iso_z(until)} is not in the future (now {iso_z(now)})"
            )
        if until - now > timedelta(seconds=self.max_shelve_s):
            raise AlarmError(
                f"shelve: at most {self.max_shelve_s / 3600:g} h ahead (alarms.max_shelve_s); "
                f"{iso_z(until)} is further"
            )
        return self._alarm_events(SHELVED, alarm_ids, author, reason, until, now)

    def unshelve(self, alarm_ids: Ids, author: str, reason: str | None = None) -> list[AlarmEvent]:
        """End a shelving before its time."""
        reason = check_reason(reason, self.max_reason_length, required=False, what="unshelve")
        return self._alarm_events(UNSHELVED, alarm_ids, author, reason)

    def set_service(
        self,
        out: bool,
        author: str,
        reason: str | None = None,
        *,
        sensor_id: str | None = None,
        layer: str | None = None,
    ) -> AlarmEvent:
        """Take a sensor or a whole layer (name one) out of service for maintenance
        (``out``, with a reason: its alarms are muted), or put it back in service."""
        what = "out of service" if out else "in service"
        reason = check_reason(reason, self.max_reason_length, required=out, what=what)
        author = check_author(author)
        sensor_id = (sensor_id or "").strip() or None
        layer = (layer or "").strip() or None
        if (sensor_id is None) == (layer is None):
            raise AlarmError("name either a sensor or a layer")
        scope: ServiceScope | None = self.book().scope(
            *(("sensor", sensor_id) if sensor_id else ("layer", layer))
        )
        kind, now = (OUT_OF_SERVICE if out else IN_SERVICE), self._stamp()
        e = AlarmEvent(
            str(uuid.uuid4()), kind, now, author, sensor_id=sensor_id, layer=layer, reason=reason
        )
        service_transition(scope, e)  # raises InvalidTransition (an AlarmError)
        self.append([e])
        return e

    # ---- helpers --------------------------------------------------------------
    def _alarm_events(
        self,
        event: str,
        alarm_ids: Ids,
        author: str,
        reason: str | None,
        until: datetime | None = None,
        now: datetime | None = None,
    ) -> list[AlarmEvent]:
        author = check_author(author)
        ids = [alarm_ids] if isinstance(alarm_ids, str) else list(alarm_ids)
        if not ids or not all(isinstance(i, str) and i.strip() for i in ids):
            raise AlarmError("missing alarm id")
        known = self.book()
        now = now if now is not None else self._stamp()
        events: list[AlarmEvent] = []
        for alarm_id in dict.fromkeys(i.strip() for i in ids):
            alarm = known.get(alarm_id)
            if alarm is None:
                raise AlarmError(f"unknown alarm {alarm_id!r}")
            about = (alarm.alarm_id, alarm.sensor_id, alarm.layer)
            e = AlarmEvent(
                str(uuid.uuid4()), event, now, author, *about, reason=reason, until=until
            )
            transition(alarm, e)  # raises InvalidTransition (an AlarmError)
            events.append(e)
        self.append(events)
        return events
