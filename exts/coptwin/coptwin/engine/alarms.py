"""The engine's side of operators' alarms: verdicts in, alarm events out, people told.

Once per tick, after the evaluate step, the evaluated sensors' verdicts (registry
position, status, value, reading time) go to :class:`~coptwin.alarms.evaluator.AlarmEvaluator`
(:meth:`EngineAlarms.judge`, under the engine's lock); the transitions it finds (raise,
repeat, return) are folded into the engine's :class:`~coptwin.alarms.fold.AlarmBook` at
once and queued for the ``alarms`` table, which :meth:`EngineAlarms.flush` appends in
the worker half of the tick, outside the lock (a failed append stays queued for the
next tick and shows in the status).  The table is watched like the annotations table
(:meth:`EngineAlarms.fold_table`), so acknowledgements and shelvings written by other
processes (the CLI, the page, other Kit sessions) reach this book, its views and its
rings.

When this process sends notifications (:func:`sends_notifications`), the book's changes
become notices (raise, return, clear, and escalation when unacknowledged too long) for
a :class:`~coptwin.alarms.notify.Notifier` running on its own thread: a destination
that is down never blocks a tick, and its trouble shows in :meth:`EngineAlarms.view`.

Time travel (:meth:`EngineAlarms.show_as_of`) shows the fold of the events up to the
moment the COP is evaluated at, made by the one time-travel path
(:func:`coptwin.engine.time_travel.cop_as_of`; the book's replay order is time order,
so that is exactly the state then); the live book goes on folding new events meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import polars as pl

from coptwin.alarms.evaluator import AlarmEvaluator
from coptwin.alarms.fold import AlarmBook
from coptwin.alarms.model import (
    CLOSED,
    OPEN_STATES,
    STATE_SHELVED,
    STATES,
    UNACK_ACTIVE,
    UNACKNOWLEDGED,
    Alarm,
)
from coptwin.alarms.notices import NoticeSource
from coptwin.alarms.store import AlarmStore
from coptwin.config import Config
from coptwin.delta import DeltaBatch
from coptwin.scene.rings import AlarmRings, Ring

log = logging.getLogger(__name__)

Process = Literal["headless", "kit"]


def sends_notifications(config: Config, process: Process) -> bool:
    """Whether a process of this kind sends the config's notifications (one kind does:
    ``alarms.notify.sender``, by default the headless engine of ``coptwin run`` / ``serve``)."""
    notify = config.alarms.notify
    has_destinations = bool(notify.webhooks or notify.email)
    return has_destinations and config.tables.alarms is not None and notify.sender == process


@dataclass(frozen=True)
class AlarmRow:
    """One alarm as the panel, the page and the status line show it."""

    alarm_id: str
    sensor_id: str
    layer: str
    #: ISA-18.2 state at the view's time (see coptwin.alarms.model.STATES)
    state: str
    status: str
    value: float | None
    reason: str
    raised_at: datetime
    returned_at: datetime | None = None
    repeats: int = 0
    acked_by: str = ""
    acked_at: datetime | None = None
    ack_note: str = ""
    shelved_until: datetime | None = None
    shelved_by: str = ""
    shelve_reason: str = ""
    updated_at: datetime | None = None
    updated_by: str = ""

    @property
    def unacknowledged(self) -> bool:
        return self.state in UNACKNOWLEDGED

    @property
    def can_ack(self) -> bool:
        return not self.acked_by and self.state != CLOSED

    @property
    def can_shelve(self) -> bool:
        return self.state not in (STATE_SHELVED, CLOSED)

    @property
    def can_unshelve(self) -> bool:
        return self.state == STATE_SHELVED


@dataclass(frozen=True)
class NotifyHealth:
    """How the notifications of this process are doing (the status line's part)."""

    #: This process sends notifications.
    enabled: bool = False
    healthy: bool = True
    #: One line, e.g. "notify: 1/2 ok, 3 pending, ops-teams: HTTP 503"; "" when off.
    summary: str = ""
    #: Destinations that fail (retrying, refused notices, or not configured right).
    failing: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlarmsView:
    """The open alarms at one moment, for every face (panel, page, status line)."""

    #: Open alarms: active first, oldest unacknowledged first.
    rows: tuple[AlarmRow, ...] = ()
    #: Open alarms per state.
    counts: dict[str, int] = field(default_factory=dict)
    #: The moment the states are for (now, or the as-of time).
    at: datetime | None = None
    live: bool = True
    #: Operators' actions can be written (live, and the table is reachable so far).
    writable: bool = True
    notify: NotifyHealth = NotifyHealth()
    #: Why alarm events could not be written to the table ("" when fine); they are kept.
    append_error: str = ""

    @property
    def unacknowledged(self) -> int:
        return sum(r.unacknowledged for r in self.rows)

    def row(self, alarm_id: str) -> AlarmRow | None:
        return next((r for r in self.rows if r.alarm_id == alarm_id), None)

    def key(self) -> tuple:
        """Changes when anything shown changes (states, acks, repeats, health)."""
        return (
            tuple((r.alarm_id, r.state, r.repeats, r.updated_at) for r in self.rows),
            self.live,
            self.notify,
            self.append_error,
        )


def alarm_row(alarm: Alarm, state: str) -> AlarmRow:
    return AlarmRow(
        alarm_id=alarm.alarm_id,
        sensor_id=alarm.sensor_id,
        layer=alarm.layer or "",
        state=state,
        status=alarm.status or "",
        value=alarm.value,
        reason=alarm.reason or "",
        raised_at=alarm.raised_at,
        returned_at=alarm.returned_at,
        repeats=alarm.repeats,
        acked_by=alarm.acked_by or "",
        acked_at=alarm.acked_at,
        ack_note=alarm.ack_note or "",
        shelved_until=alarm.shelved_until if state == STATE_SHELVED else None,
        shelved_by=(alarm.shelved_by or "") if state == STATE_SHELVED else "",
        shelve_reason=(alarm.shelve_reason or "") if state == STATE_SHELVED else "",
        updated_at=alarm.updated_at,
        updated_by=alarm.updated_by or "",
    )


def open_rows(book: AlarmBook, at: datetime) -> tuple[AlarmRow, ...]:
    """The book's open alarms at ``at``, in listing order (active first, then the
    oldest unacknowledged first); cost follows the open alarms, not the history."""
    rows = [alarm_row(a, book.state_of(a, at)) for a in book.open_alarms()]
    rows.sort(key=lambda r: (STATES.index(r.state), r.raised_at, r.alarm_id))
    return tuple(rows)


class EngineAlarms:
    """Evaluator, book, table appends, rings and notices of one engine."""

    def __init__(
        self,
        config: Config,
        storage_options: Mapping[str, str] | None = None,
        *,
        notify: bool = False,
    ) -> None:
        cfg = config.alarms
        self.store = AlarmStore(
            config.table_uri("alarms"),
            storage_options=dict(storage_options or {}),
            table=config.tables.alarms,
            max_reason_length=cfg.max_reason_length,
            max_shelve_s=cfg.max_shelve_s,
        )
        #: Every alarm, folded from this engine's transitions and the table.
        keep = cfg.keep_closed_hours
        self.live = AlarmBook(timedelta(hours=keep) if keep is not None else None)
        #: What the COP shows: the live book, or the book as of the time-travel moment.
        self.shown = self.live
        self.shown_at: datetime | None = None
        self.evaluator = AlarmEvaluator(config.rules, author=cfg.system_author)
        self._queue: list[pl.DataFrame] = []
        #: Event ids of the last appends: their echo from the table needs no second fold.
        self._written: deque[pl.Series] = deque(maxlen=16)
        self._queue_lock = threading.Lock()
        self.append_error = ""
        #: When something next changes with no new reading (see :meth:`next_due`).
        self._due: datetime | None = None
        #: Milliseconds of the last tick: evaluating + folding (+ notices), and appending.
        self.evaluate_ms = 0.0
        self.append_ms = 0.0
        self._rings: tuple[Ring, ...] = ()
        self._ring_sensors: list[tuple[str, str | None, str]] = []
        #: alarm id -> its ring; the book the rings were computed from, and until when
        self._ring_map: dict[str, tuple] = {}
        self._rings_for: tuple = (None, -1)
        self._rings_until: datetime | None = None
        self._drawn: AlarmRings | None = None
        self.notices: NoticeSource | None = None
        self.notifier = None
        if notify:
            from coptwin.alarms.notify import Notifier

            self.notices = NoticeSource(
                cfg.notify.events,
                escalate_after_s=cfg.escalate_after_s,
                max_age_s=cfg.notify.max_age_s,
            )
            self.notifier = Notifier.from_config(config).start()

    # ------------------------------------------------------------------ sensors
    def set_sensors(
        self, ids: Sequence[str], kinds: Sequence[str], layers: Sequence[str | None]
    ) -> None:
        """A registry was adopted (registry order); phases of sensors that stay are kept."""
        self.evaluator.set_sensors(ids, kinds, layers)
        self.evaluator.sync(self.live)

    # ------------------------------------------------------------------ per tick
    def judge(self, rows: pl.DataFrame | None, now: datetime, reason: Callable[[int], str]) -> None:
        """The evaluated sensors' verdicts (``idx, status, value, ts``; None: none this
        tick, due delays still fire) -> transitions, folded and queued for the table.
        Call with the engine's lock held."""
        t0 = time.perf_counter()
        events = self.evaluator.evaluate(  # it reads the columns it needs
            rows, now, self.live, lambda idx: [reason(int(i)) for i in idx]
        )
        changed: list = []
        if events.height:
            with self._queue_lock:
                self._queue.append(events)
            # the evaluator's own transitions: it knows what they did (no sync needed)
            changed = self._folded(self.live.apply_transitions(events), now, sync=False)
        elif self.notices is not None:
            self._notify([], now)
        self._refresh_rings(now, changed)
        self._due = self.next_due(now)
        self.evaluate_ms = (time.perf_counter() - t0) * 1000.0

    def fold_table(self, batch: DeltaBatch | None, table: Any, now: datetime) -> None:
        """New commits of the alarms table (other writers' events, our own echoed back;
        ``table``: its TableConfig); under the engine's lock."""
        if batch is None:
            return
        rows = self.live.schema.to_canonical(batch.data, table)
        if self._written and not batch.full_reload:  # our own appends, already folded
            ours = pl.concat(list(self._written)).implode()
            rows = rows.filter(~pl.col("event_id").is_in(ours))
        changed = self._folded(self.live.apply(rows, batch.full_reload), now, batch.full_reload)
        self._refresh_rings(now, None if batch.full_reload else changed)
        self._due = self.next_due(now)

    def _folded(
        self, result: Any, now: datetime, full_reload: bool = False, sync: bool = True
    ) -> list:
        """After a fold: the evaluator follows the book, notices go out; returns what changed."""
        if full_reload:
            self.evaluator.sync(self.live)
        elif result.changed and sync:
            alarms = (self.live.get(k) for k in result.changed if isinstance(k, str))
            self.evaluator.sync(self.live, {a.sensor_id for a in alarms if a is not None})
        if self.notices is not None:
            self._notify(result.changed, now)
        return result.changed

    def _notify(self, changed: list, now: datetime) -> None:
        assert self.notices is not None and self.notifier is not None
        notices = self.notices.changes(self.live, changed, now)
        notices += self.notices.escalations(self.live, now)
        if notices:
            self.notifier.submit(notices)

    def flush(self) -> None:
        """Append the queued transitions in one commit (worker half of a tick, outside the
        engine's lock).  A failure keeps them queued for the next tick and says why."""
        with self._queue_lock:
            queued, self._queue = self._queue, []
        if not queued:
            return
        t0 = time.perf_counter()
        frame = pl.concat(queued, how="vertical")
        try:
            self.store.append_frame(frame)
        except Exception as exc:  # storage trouble: keep the events, say so, go on
            with self._queue_lock:
                self._queue[:0] = [frame]
            self.append_error = str(exc)[:300]
            log.warning("alarms: %d events not written yet (%s)", frame.height, self.append_error)
        else:
            self.append_error = ""
            self._written.append(frame["event_id"])
        self.append_ms = (time.perf_counter() - t0) * 1000.0

    @property
    def queued(self) -> int:
        with self._queue_lock:
            return sum(f.height for f in self._queue)

    # ------------------------------------------------------------------ time travel
    def show_as_of(self, past: AlarmBook | None, when: datetime | None = None) -> None:
        """Show ``past``, the alarms as they were at ``when`` (the time-travel path's
        fold, :func:`coptwin.engine.time_travel.cop_as_of`); None: live again."""
        if past is None or when is None:
            self.shown, self.shown_at = self.live, None
        else:
            self.shown, self.shown_at = past, when
        self._refresh_rings(when)

    # ------------------------------------------------------------------ views
    def view(self, now: datetime) -> AlarmsView:
        """What the faces show (call under the engine's lock)."""
        at = self.shown_at or now
        rows = open_rows(self.shown, at)
        counts = dict.fromkeys(OPEN_STATES, 0)
        for r in rows:
            counts[r.state] += 1
        return AlarmsView(
            rows=rows,
            counts=counts,
            at=at,
            live=self.shown_at is None,
            writable=self.shown_at is None,
            notify=self.health(),
            append_error=self.append_error,
        )

    def health(self) -> NotifyHealth:
        if self.notifier is None:
            return NotifyHealth()
        states = self.notifier.status()
        failing = tuple(s.name for s in states if not s.healthy or s.failed)
        summary = self.notifier.summary()
        refused = sum(s.failed for s in states)
        if refused:
            summary += f", {refused} refused"
        return NotifyHealth(True, not failing, summary, failing)

    def next_due(self, now: datetime) -> datetime | None:
        """The next moment something changes with no new reading: a delay, the end of a
        shelving, an escalation."""
        times = [self.evaluator.next_due()]
        times += [t for t in self.live.shelving_ends() if t > now]
        escalate = self.notices.escalate_after if self.notices is not None else None
        if escalate is not None:
            times += [a.raised_at + escalate for a in self.live.open_alarms() if not a.acked]
        future = [t for t in times if t is not None]
        return min(future) if future else None

    def due_in(self, now: datetime) -> float | None:
        """Seconds until :meth:`next_due` as of the last tick (any thread: it reads what the
        tick left, not the book), at least a little."""
        due = self._due
        return None if due is None else max((due - now).total_seconds(), 0.05)

    # ------------------------------------------------------------------ rings
    def _ring(self, book: AlarmBook, alarm: Alarm | None, at: datetime) -> tuple | None:
        """An alarm's ring (sensor, status while active, layer), None when it has none."""
        if alarm is None or alarm.closed:
            return None
        state = book.state_of(alarm, at)
        if state not in UNACKNOWLEDGED:
            return None
        return (alarm.sensor_id, alarm.status if state == UNACK_ACTIVE else None, alarm.layer or "")

    def _refresh_rings(self, now: datetime | None, changed: list | None = None) -> None:
        """Which sensors get a ring: open alarms awaiting acknowledgement (not shelved or
        out of service).  ``changed``: the alarm ids a fold changed (only those are looked
        at); everything is looked at again for another book, a service change or when a
        shelving ended."""
        at = self.shown_at or now
        if at is None:
            return
        book = self.shown
        same = self._rings_for[0] is book and (self._rings_until is None or at < self._rings_until)
        if same and changed is not None and all(isinstance(k, str) for k in changed):
            if not changed:
                return
            for alarm_id in changed:
                alarm = book.get(alarm_id)
                ring = self._ring(book, alarm, at)
                if ring is None:
                    self._ring_map.pop(alarm_id, None)
                else:
                    self._ring_map[alarm_id] = ring
                if (
                    alarm is not None
                    and alarm.shelved_until is not None
                    and alarm.shelved_until > at
                ):
                    self._rings_until = min(
                        self._rings_until or alarm.shelved_until, alarm.shelved_until
                    )
        else:
            self._ring_map, self._rings_until = {}, None
            for a in book.open_alarms():
                ring = self._ring(book, a, at)
                if ring is not None:
                    self._ring_map[a.alarm_id] = ring
                if a.shelved_until is not None and a.shelved_until > at:
                    until = self._rings_until
                    self._rings_until = (
                        a.shelved_until if until is None else min(until, a.shelved_until)
                    )
        self._ring_sensors = sorted(self._ring_map.values())
        self._rings_for = (book, book.revision)

    def draw(
        self,
        host,
        marker_size_m: float,
        positions: Mapping[str, tuple[float, float, float]],
        visible: Mapping[str, bool],
    ) -> None:
        """Stage thread: the rings of unacknowledged alarms around their markers (sensors
        of hidden layers and without a position have none)."""
        if self._drawn is None or self._drawn.host is not host:
            self._drawn = AlarmRings(host, marker_size_m)
        rings = [
            Ring(sid, positions[sid], status)
            for sid, status, layer in self._ring_sensors
            if sid in positions and visible.get(layer, True)
        ]
        self._drawn.show(rings)

    # ------------------------------------------------------------------ shutdown
    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.stop()


__all__ = [
    "AlarmRow",
    "AlarmsView",
    "EngineAlarms",
    "NotifyHealth",
    "sends_notifications",
]
