"""View-model of the operators' alarm list (Kit-free, tested with pytest).

The list is the engine's open alarms (:class:`~coptwin.engine.alarms.AlarmsView`,
from the snapshot): active first, the oldest unacknowledged first, each with what an
operator needs to decide (sensor, state, since when, why, who acknowledged or shelved
it) and the actions its state allows: Ack, Shelve… (a reason and until when) and
Unshelve.  :func:`alarm_items` puts every row in words once, for the Kit panel and the
browser page alike.

Actions are Delta commits through :class:`~coptwin.alarms.store.AlarmStore`, validated
exactly as ``coptwin alarms`` validates them (the store's own fold of the table decides
what is valid); they block for a commit, so the panel runs them in a worker thread.
A refused or failed action becomes ``error`` text, never an exception into Kit.  A
successful one is handed to ``echo`` (the panel asks the engine to read the alarms
table now, so its book, the list and the rings follow within a tick).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from coptwin.alarms.model import (
    ACK_ACTIVE,
    STATE_OUT_OF_SERVICE,
    STATE_SHELVED,
    UNACK_ACTIVE,
    UNACK_RETURNED,
    AlarmError,
    shelve_until,
)
from coptwin.engine.alarms import AlarmRow, AlarmsView
from coptwin.storage import redact
from coptwin.ui.format import format_time, format_value
from coptwin.ui.status import alarm_badge

log = logging.getLogger(__name__)

#: How each ISA-18.2 state reads in a list.
STATE_LABELS: dict[str, str] = {
    UNACK_ACTIVE: "ACTIVE · unacknowledged",
    ACK_ACTIVE: "active · acknowledged",
    UNACK_RETURNED: "returned · unacknowledged",
    STATE_SHELVED: "shelved",
    STATE_OUT_OF_SERVICE: "out of service",
}


class AlarmWriter(Protocol):
    """What the view-model needs of :class:`coptwin.alarms.store.AlarmStore`."""

    def now(self) -> datetime: ...
    def acknowledge(self, alarm_ids: Any, author: str, note: str | None = None) -> Any: ...
    def shelve(self, alarm_ids: Any, author: str, reason: str, until: datetime) -> Any: ...
    def unshelve(self, alarm_ids: Any, author: str, reason: str | None = None) -> Any: ...


@dataclass(frozen=True)
class AlarmItem:
    """One line of the alarm list, in words."""

    alarm_id: str
    sensor_id: str
    #: The sensor's name (its id when it has none).
    sensor: str
    state: str
    label: str
    #: The status that raised it ("alarm", "warn", ...), for the colour.
    status: str
    raised: str
    reason: str
    #: Repeats, who acknowledged, the shelving ("" when nothing to add).
    detail: str
    unacknowledged: bool
    can_ack: bool
    can_shelve: bool
    can_unshelve: bool


def _detail(row: AlarmRow) -> str:
    parts = []
    if row.repeats:
        parts.append(f"repeated {row.repeats}×")
    if row.returned_at is not None and row.state == UNACK_RETURNED:
        parts.append(f"returned {format_time(row.returned_at)}")
    if row.acked_by:
        note = f": {row.ack_note}" if row.ack_note else ""
        parts.append(f"acknowledged by {row.acked_by}{note}")
    if row.state == STATE_SHELVED:
        why = f": {row.shelve_reason}" if row.shelve_reason else ""
        parts.append(f"shelved until {format_time(row.shelved_until)} by {row.shelved_by}{why}")
    return " · ".join(parts)


def alarm_items(
    view: AlarmsView | None, names: Mapping[str, str] | None = None
) -> tuple[AlarmItem, ...]:
    """The view's rows in words (listing order kept)."""
    if view is None:
        return ()
    names = names or {}
    out = []
    for r in view.rows:
        reason = r.reason or (format_value(r.value) if r.value is not None else "")
        out.append(
            AlarmItem(
                alarm_id=r.alarm_id,
                sensor_id=r.sensor_id,
                sensor=names.get(r.sensor_id) or r.sensor_id,
                state=r.state,
                label=STATE_LABELS.get(r.state, r.state),
                status=r.status,
                raised=format_time(r.raised_at),
                reason=reason,
                detail=_detail(r),
                unacknowledged=r.unacknowledged,
                can_ack=view.writable and r.can_ack,
                can_shelve=view.writable and r.can_shelve,
                can_unshelve=view.writable and r.can_unshelve,
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class AlarmsPanel:
    """Everything the alarms section shows, recomputed after a refresh or an action."""

    #: False: no alarms here (no engine or no alarms table); ``reason`` says why.
    enabled: bool = False
    reason: str = "the COP is not running"
    items: tuple[AlarmItem, ...] = ()
    #: "2 unacknowledged of 3 alarms", "No open alarms."
    summary: str = ""
    #: False while the COP shows the past (the list is as of then; no actions).
    live: bool = True
    busy: bool = False
    error: str = ""
    #: The alarm the Shelve… form is open for (None: closed), and its line.
    shelving: str | None = None
    shelving_label: str = ""


class AlarmsVM:
    """State and actions of the alarm list."""

    def __init__(
        self,
        writer: AlarmWriter | None,
        *,
        author: str = "",
        echo: Callable[[], None] | None = None,
    ) -> None:
        self._writer = writer
        self._echo = echo
        self.author = author.strip()
        self.items: tuple[AlarmItem, ...] = ()
        self.view: AlarmsView | None = None
        self.shelving: str | None = None
        self.error = ""

    def update(self, view: AlarmsView | None, names: Mapping[str, str] | None = None) -> None:
        """Adopt the snapshot's alarms (the shelve form closes when its alarm left)."""
        self.view = view
        self.items = alarm_items(view, names)
        if self.shelving is not None and self.item(self.shelving) is None:
            self.shelving = None

    def item(self, alarm_id: str) -> AlarmItem | None:
        return next((i for i in self.items if i.alarm_id == alarm_id), None)

    def panel(self, busy: bool = False) -> AlarmsPanel:
        view = self.view
        badge, _ = alarm_badge(view)
        shelving = self.item(self.shelving) if self.shelving else None
        return AlarmsPanel(
            enabled=True,
            reason="",
            items=self.items,
            summary=badge or "No open alarms.",
            live=view.live if view is not None else True,
            busy=busy,
            error=self.error,
            shelving=shelving.alarm_id if shelving else None,
            shelving_label=(
                f"Shelve the alarm of {shelving.sensor} (raised {shelving.raised})"
                if shelving
                else ""
            ),
        )

    # ---- the shelve form ---------------------------------------------------------
    def open_shelve(self, alarm_id: str) -> None:
        item = self.item(alarm_id)
        if item is None or not item.can_shelve:
            self.error = f"alarm {alarm_id} cannot be shelved now"
            return
        self.shelving, self.error = alarm_id, ""

    def cancel_shelve(self) -> None:
        self.shelving, self.error = None, ""

    # ---- actions (blocking: a Delta commit; the panel runs them in a worker) -------
    def _run(self, what: str, action: Callable[[AlarmWriter], Any]) -> bool:
        if self._writer is None:
            self.error = "alarms are read-only here: no alarms table is configured"
            return False
        if self.view is not None and not self.view.live:
            self.error = "the COP shows the past; return to Live to act on alarms"
            return False
        try:
            action(self._writer)
        except AlarmError as exc:
            self.error = str(exc)
            return False
        except Exception as exc:  # storage trouble must reach the operator, not crash Kit
            message = redact(f"{type(exc).__name__}: {exc}")
            log.warning("%s failed: %s", what, message)
            self.error = f"could not {what}: {message}"
            return False
        self.error = ""
        if self._echo is not None:
            self._echo()
        return True

    def ack(self, alarm_id: str, note: str | None = None) -> bool:
        """ "I have seen it, I am on it"."""
        return self._run(
            "acknowledge the alarm", lambda w: w.acknowledge(alarm_id, self.author, note)
        )

    def shelve(self, reason: str, until: str, alarm_id: str | None = None) -> bool:
        """Shelve the alarm whose form is open (or ``alarm_id``) until ``until`` ("8h" or
        a time) with a reason; the form closes when it worked."""
        target = alarm_id or self.shelving
        if target is None:
            self.error = "choose an alarm to shelve (its Shelve… button)"
            return False

        def act(w: AlarmWriter) -> Any:
            return w.shelve(target, self.author, reason, shelve_until(until, w.now()))

        ok = self._run("shelve the alarm", act)
        if ok and self.shelving == target:
            self.shelving = None
        return ok

    def unshelve(self, alarm_id: str) -> bool:
        return self._run("unshelve the alarm", lambda w: w.unshelve(alarm_id, self.author))
