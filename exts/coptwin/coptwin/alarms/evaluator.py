"""Sensors' statuses -> alarm transitions (raise, repeat, return), vectorised, with
on/off delays so a sensor wavering around a threshold does not raise a hundred alarms.

The evaluator works on the sensors' registry positions: :meth:`AlarmEvaluator.set_sensors`
adopts a registry (ids, kinds, layers, in registry order; sensors that stay keep their
phase), and per tick the engine hands over the evaluated sensors (``idx``, ``status``,
``value``, ``ts``) and the current time.  Per sensor the evaluator keeps a phase, in
numpy arrays:

- *condition*: the status is in the kind's ``raise_on`` (default ``["alarm"]``;
  ``warn``, ``offline``, ``stale``, ``suspect`` may be added);
- *normal*: ``ok``, or ``warn`` when warn does not raise;
- *hold*: anything else (``stale``, ``offline``, ``unknown`` and the data-quality
  status ``suspect`` when they do not raise): no information, no transition; the
  timers of the other phases restart after it.

and the time it entered that phase.  An alarm is raised once the condition
has held ``alarm_delay_s`` and returns once the sensor has been normal
``clear_delay_s``.  When the condition comes back while the sensor's previous
alarm is still open (returned but not acknowledged), that alarm *repeats*
(its ``repeats`` count grows) instead of a new one being raised.  Sensors out
of service (:class:`~coptwin.alarms.fold.AlarmBook` scopes) raise nothing.

Events carry deterministic ids (:mod:`coptwin.alarms.model`): the time of a
transition is the reading time at which the phase was entered, so every engine
that reads the same readings writes the same events, and the fold keeps one.
What the book says is followed too (:meth:`AlarmEvaluator.sync`): an alarm another
engine raised, or one still active in the table when this engine starts, returns
when this engine sees the sensor normal.

The hot path is numpy over the per-sensor arrays; Python loops run per rule kind
and per emitted transition, never per sensor.  The caller folds the returned
events into the book (``book.apply``, then :meth:`AlarmEvaluator.sync`; the engine
takes the bulk path, ``book.apply_transitions``, and needs no sync) before the next
tick, then appends them to the table
(:meth:`coptwin.alarms.store.AlarmStore.append_frame`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import polars as pl

from coptwin.alarms.fold import AlarmBook
from coptwin.alarms.model import RAISED, REPEATED, RETURNED
from coptwin.alarms.schema import EVENT_SCHEMA
from coptwin.config import STATUSES, RuleConfig

log = logging.getLogger(__name__)

#: Status -> small integer; statuses not listed are "other".
_CODES: dict[str, int] = {s: i for i, s in enumerate(STATUSES)}
_OTHER = len(STATUSES)
#: Status text -> its code (the enum's physical value); others become null, then _OTHER.
_STATUS_ENUM = pl.Enum(STATUSES)
_NORMAL_BITS = (1 << _CODES["ok"]) | (1 << _CODES["warn"])

HOLD, COND, NORMAL = np.int8(0), np.int8(1), np.int8(2)
_TS = pl.Datetime("us", "UTC")
#: Status code -> text (the "other" code, and returns, carry no status).
_STATUS_TEXT = np.array([*STATUSES, None], dtype=object)
_NONE = np.iinfo(np.int64).min

#: Reasons of the emitted transitions, from their sensors' registry positions.
Describe = Callable[[np.ndarray], Sequence[str | None]]


@dataclass(frozen=True)
class _KindRule:
    raise_bits: int
    delay_us: int
    clear_us: int


def _kind_rule(rule: RuleConfig) -> _KindRule:
    bits = 0
    for status in rule.raise_on:
        bits |= 1 << _CODES.get(status, _OTHER)
    return _KindRule(bits, int(rule.alarm_delay_s * 1e6), int(rule.clear_delay_s * 1e6))


def _iso_z(us: np.ndarray) -> list[str]:
    """:func:`coptwin.alarms.model.iso_z` of many times (microseconds since the epoch)."""
    seconds, micro = np.divmod(us, 1_000_000)
    text = np.datetime_as_string(seconds.astype("datetime64[s]")).tolist()
    return [
        f"{t}Z" if m == 0 else f"{t}.{m // 1000:03d}Z" if m % 1000 == 0 else f"{t}.{m:06d}Z"
        for t, m in zip(text, micro.tolist(), strict=True)
    ]


def _us(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000)


class AlarmEvaluator:
    """Per-sensor alarm phases in numpy arrays (registry order); :meth:`evaluate` once per tick."""

    def __init__(self, rules: Mapping[str, RuleConfig], *, author: str = "coptwin") -> None:
        self._rules = {kind: _kind_rule(r) for kind, r in rules.items()}
        self._default = _kind_rule(RuleConfig())
        self.author = author
        self._slot: dict[str, int] = {}
        self._service_seen: tuple[frozenset, frozenset] | None = None
        self._resize(np.empty(0, dtype=object), None)
        self.set_sensors([], [], [])

    def __len__(self) -> int:
        return self._ids.size

    # ---- the sensors -------------------------------------------------------------
    def _resize(self, ids: np.ndarray, keep: np.ndarray | None) -> None:
        """Arrays for ``ids``; ``keep[i]`` is sensor i's old position (-1: new)."""
        n = ids.size

        def take(name: str, fill, dtype) -> np.ndarray:
            out = np.full(n, fill, dtype=dtype)
            if keep is not None:
                old = getattr(self, name)
                has = keep >= 0
                out[has] = old[keep[has]]
            return out

        self._phase = take("_phase", HOLD, np.int8)
        #: Reading time at which the current phase was entered, and that reading.
        self._since = take("_since", _NONE, np.int64)
        self._since_status = take("_since_status", _OTHER, np.int64)
        self._since_value = take("_since_value", np.nan, np.float64)
        #: This evaluator (or the book) considers the sensor's alarm active.
        self._raised = take("_raised", False, bool)
        self._suppressed = np.zeros(n, dtype=bool)
        self._ids = ids
        self._slot = {sid: i for i, sid in enumerate(ids.tolist())}
        self._service_seen = None

    def set_sensors(
        self, ids: Sequence[str], kinds: Sequence[str], layers: Sequence[str | None]
    ) -> None:
        """Adopt a registry's sensors (registry order); sensors that stay keep their phase
        and timers (a re-read sensors table is not a new start)."""
        ids_arr = np.asarray(list(ids), dtype=object)
        old = self._slot
        keep = np.fromiter((old.get(s, -1) for s in ids_arr.tolist()), np.int64, ids_arr.size)
        self._resize(ids_arr, keep)
        kinds_arr = np.asarray(["" if k is None else k for k in kinds], dtype=object)
        self._layer = np.asarray(list(layers), dtype=object)
        n = ids_arr.size
        self._raise_bits = np.zeros(n, dtype=np.int64)
        self._delay = np.zeros(n, dtype=np.int64)
        self._clear = np.zeros(n, dtype=np.int64)
        for kind in np.unique(kinds_arr) if n else ():  # per rule kind, not per sensor
            rule = self._rules.get(kind, self._default)
            at = kinds_arr == kind
            self._raise_bits[at] = rule.raise_bits
            self._delay[at] = rule.delay_us
            self._clear[at] = rule.clear_us
        self._delays = bool(self._delay.any() or self._clear.any())

    def index_of(self, sensor_id: str) -> int | None:
        return self._slot.get(sensor_id)

    def sync(self, book: AlarmBook, sensor_ids: Iterable[str] | None = None) -> None:
        """Follow the book: a sensor whose open alarm is active counts as raised here (so
        it returns when the sensor is normal long enough), one without does not.

        ``sensor_ids``: the sensors whose alarms changed (None: every sensor, e.g. after
        the alarms table was reloaded).  Call after folding events into ``book``.
        """
        if sensor_ids is None:
            self._raised[:] = False
            sensor_ids = {a.sensor_id for a in book.open_alarms()}
        for sid in sensor_ids:  # per changed alarm, not per sensor
            i = self._slot.get(sid)
            if i is not None:
                alarm = book.open_for(sid)
                self._raised[i] = alarm is not None and alarm.active

    def _update_suppressed(self, book: AlarmBook | None) -> None:
        if book is None:
            return
        sensors, layers = book.out_of_service_sensors, book.out_of_service_layers
        key = (sensors, layers)
        if self._service_seen == key:
            return
        self._service_seen = key
        sup = np.zeros(self._ids.size, dtype=bool)
        if sensors:
            sup |= np.isin(self._ids, list(sensors))
        if layers:
            sup |= np.isin(self._layer, list(layers))
        self._suppressed = sup

    # ---- the tick ---------------------------------------------------------------
    def evaluate(
        self,
        changes: pl.DataFrame | None,
        now: datetime,
        book: AlarmBook | None = None,
        describe: Describe | None = None,
    ) -> pl.DataFrame:
        """Alarm events (canonical alarms-table frame) for this tick.

        ``changes``: evaluated sensors (``idx`` registry position, ``status``, ``value``,
        ``ts`` of the reading), one row each (the latest wins when a sensor appears
        twice); rows whose status did not change cost nothing more.  None or empty:
        nothing changed (due delays still fire).  ``book``: the alarms as folded so
        far; it decides raise vs repeat and which sensors are out of service.
        ``describe``: the reasons of the sensors that raise an alarm (their rule's words).
        Fold the result into the book, and :meth:`sync`, before the next tick.
        """
        now_us = _us(now)
        if changes is not None and not changes.is_empty():
            self._ingest(changes, now_us)
        self._update_suppressed(book)
        return self._due(now_us, book, describe)

    def _ingest(self, changes: pl.DataFrame, now_us: int) -> None:
        if changes["idx"].n_unique() < changes.height:
            changes = changes.sort("ts").unique("idx", keep="last", maintain_order=True)
        cols = changes.select(  # one pass of polars, then numpy
            idx=pl.col("idx").cast(pl.Int64),
            code=pl.col("status")
            .cast(_STATUS_ENUM, strict=False)
            .to_physical()
            .cast(pl.Int64)
            .fill_null(_OTHER),
            ts=pl.col("ts").dt.epoch("us").fill_null(now_us),
            value=pl.col("value").cast(pl.Float64).fill_null(np.nan),
        )
        idx, codes, ts = (cols[c].to_numpy() for c in ("idx", "code", "ts"))
        bits = self._raise_bits[idx]
        cond = ((bits >> codes) & 1).astype(bool)
        normal = ((_NORMAL_BITS >> codes) & 1).astype(bool) & ~cond
        phase = np.where(cond, COND, np.where(normal, NORMAL, HOLD)).astype(np.int8)
        entered = phase != self._phase[idx]
        if not entered.any():
            return
        at = idx[entered]
        self._phase[at] = phase[entered]
        self._since[at] = ts[entered]
        self._since_status[at] = codes[entered]
        self._since_value[at] = cols["value"].to_numpy()[entered]

    def _due(self, now_us: int, book: AlarmBook | None, describe: Describe | None) -> pl.DataFrame:
        phase, raised, since = self._phase, self._raised, self._since
        elapsed = now_us - since
        up = np.flatnonzero(
            (phase == COND) & ~raised & ~self._suppressed & (elapsed >= self._delay)
        )
        down = np.flatnonzero((phase == NORMAL) & raised & (elapsed >= self._clear))
        if up.size == 0 and down.size == 0:
            return EVENT_SCHEMA.empty()
        self._raised[up] = True
        self._raised[down] = False
        at = np.concatenate([up, down])
        is_up = np.arange(at.size) < up.size
        ids = self._ids[at]
        # The book decides raise vs repeat: one lookup per transition, not per sensor.
        opened = [book.open_for(s) for s in ids.tolist()] if book is not None else [None] * at.size
        found = np.array([0 if a is None else 2 if a.active else 1 for a in opened], np.int8)
        has, active = found > 0, found == 2
        # Up: nothing when the sensor's open alarm is already active (another engine
        # raised it); down: only an open, active alarm returns.
        keep = np.where(is_up, ~active, active)
        if not keep.any():
            return EVENT_SCHEMA.empty()
        if not keep.all():
            at, is_up, has, ids = at[keep], is_up[keep], has[keep], ids[keep]
            opened = [a for a, k in zip(opened, keep.tolist(), strict=True) if k]
        event = np.where(is_up, np.where(has, REPEATED, RAISED), RETURNED).tolist()
        codes = np.where(is_up, self._since_status[at], _OTHER)
        # Why it was raised, in words; a repeat keeps its alarm's reason (a chattering
        # sensor costs no formatting) and a return needs none: it is back to normal.
        reasons = np.full(at.size, None, dtype=object)
        raising = is_up & ~has
        if describe is not None and raising.any():
            reasons[raising] = list(describe(at[raising]))
        ts = pl.Series("ts", since[at], dtype=pl.Int64).cast(_TS)
        # <sensor>@<reading time>: the new alarm's id, and the event's before /<event>
        stamps = [f"{s}@{t}" for s, t in zip(ids.tolist(), _iso_z(since[at]), strict=True)]
        n = at.size
        return pl.DataFrame(
            [
                pl.Series("event_id", [f"{s}/{e}" for s, e in zip(stamps, event, strict=True)]),
                pl.Series(
                    "alarm_id",
                    [s if a is None else a.alarm_id for a, s in zip(opened, stamps, strict=True)],
                ),
                pl.Series("event", event),
                ts,
                pl.Series("author", [self.author] * n),
                pl.Series("sensor_id", ids.tolist(), pl.String),
                pl.Series("layer", self._layer[at].tolist(), pl.String),
                pl.Series("status", _STATUS_TEXT[codes].tolist(), pl.String),
                pl.Series("value", self._since_value[at], nan_to_null=True),
                pl.Series("reason", reasons.tolist(), pl.String),
                pl.Series("until", [None] * n, _TS),
            ]
        )

    # ---- introspection ----------------------------------------------------------
    def pending(self, now: datetime) -> dict[str, int]:
        """Sensors waiting out a delay: ``raise`` (condition held, not yet raised) and
        ``return`` (normal, not yet returned)."""
        phase, raised = self._phase, self._raised
        return {
            "raise": int(np.count_nonzero((phase == COND) & ~raised & ~self._suppressed)),
            "return": int(np.count_nonzero((phase == NORMAL) & raised)),
        }

    def next_due(self) -> datetime | None:
        """The earliest time a pending delay fires with no new reading (None: none waits)."""
        if not self._delays:  # no rule delays anything
            return None
        phase, raised = self._phase, self._raised
        waiting_up = (phase == COND) & ~raised & ~self._suppressed & (self._delay > 0)
        waiting_down = (phase == NORMAL) & raised & (self._clear > 0)
        due = np.concatenate(
            [
                self._since[waiting_up] + self._delay[waiting_up],
                self._since[waiting_down] + self._clear[waiting_down],
            ]
        )
        if due.size == 0:
            return None
        return datetime.fromtimestamp(int(due.min()) / 1e6, tz=timezone.utc)
