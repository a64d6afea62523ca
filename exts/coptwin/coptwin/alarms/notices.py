"""What to tell people: notices derived from the alarm book (raise, escalation, return, clear).

A :class:`NoticeSource` compares each changed alarm with the state it saw
before and yields one :class:`Notice` per milestone reached:

- ``raised``: a new alarm;
- ``returned``: its condition went back to normal (the first time only: the
  repeats of a chattering alarm are counted on the alarm, not sent);
- ``cleared``: acknowledged and returned, i.e. closed;
- ``escalated``: still unacknowledged ``escalate_after_s`` after it was
  raised (and neither shelved nor out of service) - see :meth:`NoticeSource.escalations`.

Notice ids are deterministic (``<alarm_id>/<kind>``), so re-deriving them
after a restart, or in two processes, gives the same ids and the notifier's
dedup keeps each message single.  Alarms that are shelved or out of service
are muted: only their ``cleared`` notice goes out.  Notices about events older
than ``max_age_s`` when first seen (a first start on an old table) are
dropped and counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from coptwin.alarms.fold import AlarmBook
from coptwin.alarms.model import CLOSED, STATE_OUT_OF_SERVICE, STATE_SHELVED, Alarm, iso_z
from coptwin.config import ALARM_NOTICES

_TIMES = ("at", "raised_at")


@dataclass(frozen=True)
class Notice:
    """One message about one alarm milestone; ``event_id`` is its dedup key."""

    event_id: str
    kind: str  # raised | escalated | returned | cleared
    alarm_id: str
    sensor_id: str
    layer: str | None
    #: The alarm's state when the notice was made.
    state: str
    status: str | None
    value: float | None
    reason: str | None
    #: When the milestone happened.
    at: datetime
    raised_at: datetime
    repeats: int = 0
    acked_by: str | None = None

    @property
    def title(self) -> str:
        verb = {
            "raised": "ALARM",
            "escalated": "UNACKNOWLEDGED",
            "returned": "returned to normal",
            "cleared": "cleared",
        }.get(self.kind, self.kind)
        status = f" ({self.status})" if self.status and self.kind in ("raised", "escalated") else ""
        return f"{verb}{status}: sensor {self.sensor_id}"

    @property
    def summary(self) -> str:
        """One line for chat previews, e-mail subjects and plain-text channels."""
        parts = [self.title]
        if self.reason:
            parts.append(self.reason)
        if self.repeats:
            parts.append(f"repeated {self.repeats}x")
        parts.append(f"at {iso_z(self.at)}")
        return " - ".join(parts)

    def to_dict(self) -> dict:
        """JSON-safe dict (times as ISO-8601 UTC, no NaN)."""
        out = asdict(self)
        for key in _TIMES:
            out[key] = iso_z(out[key])
        if out["value"] is not None and not math.isfinite(out["value"]):
            out["value"] = None
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Notice:
        data = dict(data)
        for key in _TIMES:
            data[key] = datetime.fromisoformat(data[key].replace("Z", "+00:00"))
        return cls(**data)


def _notice(kind: str, alarm: Alarm, state: str, at: datetime) -> Notice:
    return Notice(
        event_id=f"{alarm.alarm_id}/{kind}",
        kind=kind,
        alarm_id=alarm.alarm_id,
        sensor_id=alarm.sensor_id,
        layer=alarm.layer,
        state=state,
        status=alarm.status,
        value=alarm.value,
        reason=alarm.reason,
        at=at,
        raised_at=alarm.raised_at,
        repeats=alarm.repeats,
        acked_by=alarm.acked_by,
    )


class NoticeSource:
    """Turns book changes into notices; remembers the alarm states it has seen."""

    def __init__(
        self,
        kinds: Iterable[str] = ALARM_NOTICES,
        *,
        escalate_after_s: float | None = None,
        max_age_s: float = 3600.0,
    ) -> None:
        self.kinds = frozenset(kinds)
        self.escalate_after = (
            timedelta(seconds=escalate_after_s) if escalate_after_s is not None else None
        )
        self.max_age = timedelta(seconds=max_age_s)
        self._seen: dict[str, Alarm] = {}
        #: Closed alarms already told, until their notices would be too old anyway.
        self._done: dict[str, datetime] = {}
        self._escalated: set[str] = set()
        #: Notices not sent, per reason ("muted", "too_old").
        self.dropped: dict[str, int] = {"muted": 0, "too_old": 0}

    def changes(self, book: AlarmBook, changed: Iterable, now: datetime) -> list[Notice]:
        """Notices for the alarms in ``changed`` (an ``ApplyResult.changed``; service keys
        are ignored), oldest milestone first."""
        out: list[Notice] = []
        for key in changed:
            if not isinstance(key, str):
                continue
            new, old = book.get(key), self._seen.get(key)
            if new is None:
                self._seen.pop(key, None)
                continue
            if key in self._done:
                continue  # closed and told; later events (a late second ack) change nothing
            state = book.state_of(new, now)
            if old is None:
                out.append(_notice("raised", new, state, new.raised_at))
            if new.returned_at is not None and (old is None or old.returned_at is None):
                out.append(_notice("returned", new, state, new.returned_at))
            if new.closed_at is not None and (old is None or old.closed_at is None):
                out.append(_notice("cleared", new, CLOSED, new.closed_at))
            if new.closed:
                self._seen.pop(key, None)  # closed is final: nothing more to say
                self._escalated.discard(key)
                self._done[key] = new.closed_at
            else:
                self._seen[key] = new
        if len(self._done) > 1024:
            horizon = now - self.max_age
            self._done = {k: t for k, t in self._done.items() if t >= horizon}
        return self._filter(out, now)

    def escalations(self, book: AlarmBook, now: datetime) -> list[Notice]:
        """Open alarms still unacknowledged ``escalate_after_s`` after their raise (once each)."""
        if self.escalate_after is None or "escalated" not in self.kinds:
            return []
        out = []
        for alarm in book.open_alarms():
            if alarm.acked or alarm.alarm_id in self._escalated:
                continue
            due = alarm.raised_at + self.escalate_after
            if now < due:
                continue
            state = book.state_of(alarm, now)
            if state in (STATE_SHELVED, STATE_OUT_OF_SERVICE):
                continue  # muted; escalates when it is back, if still unacknowledged
            self._escalated.add(alarm.alarm_id)
            out.append(_notice("escalated", alarm, state, due))
        out.sort(key=lambda n: (n.at, n.event_id))
        return out

    def _filter(self, notices: list[Notice], now: datetime) -> list[Notice]:
        kept = []
        for n in notices:
            if n.kind not in self.kinds:
                continue
            if n.kind != "cleared" and n.state in (STATE_SHELVED, STATE_OUT_OF_SERVICE):
                self.dropped["muted"] += 1
                continue
            if now - n.at > self.max_age:
                self.dropped["too_old"] += 1
                continue
            kept.append(n)
        kept.sort(key=lambda n: (n.at, n.event_id))
        return kept
