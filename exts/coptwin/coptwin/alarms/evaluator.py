"""Sensors' statuses -> alarm transitions (raise, repeat, return), vectorised, with
on/off delays so a sensor wavering around a threshold does not raise a hundred alarms.

Per tick the engine hands over the sensors whose status changed (``sensor_id``,
``kind``, ``status``, ``value``, ``ts``; optional ``layer`` and ``reason``) and
the current time.  Per sensor the evaluator keeps a phase, in numpy arrays:

- *condition*: the status is in the kind's ``raise_on`` (default ``["alarm"]``;
  ``warn``, ``offline``, ``stale`` may be added);
- *normal*: ``ok``, or ``warn`` when warn does not raise;
- *hold*: anything else (``stale``, ``offline``, ``unknown`` and data-quality
  statuses that do not raise): no information, no transition; the timers of
  the other phases restart after it.

and the time it entered that phase.  An alarm is raised once the condition
has held ``alarm_delay_s`` and returns once the sensor has been normal
``clear_delay_s``.  When the condition comes back while the sensor's previous
alarm is still open (returned but not acknowledged), that alarm *repeats*
(its ``repeats`` count grows) instead of a new one being raised.  Sensors out
of service (:class:`~coptwin.alarms.fold.AlarmBook` scopes) raise nothing.

Events carry deterministic ids (:mod:`coptwin.alarms.model`): the time of a
transition is the reading time at which the phase was entered, so every engine
that reads the same readings writes the same events, and the fold keeps one.

The hot path is numpy over the per-sensor arrays and polars joins; Python
loops run per rule kind, never per sensor.  The caller folds the returned
events into the book (``book.apply``) before the next tick, then appends them
to the table (:meth:`coptwin.alarms.store.AlarmStore.append_frame`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from coptwin.alarms.fold import AlarmBook
from coptwin.alarms.model import RAISED, REPEATED, RETURNED
from coptwin.alarms.schema import EVENT_SCHEMA
from coptwin.config import STATUSES, RuleConfig

log = logging.getLogger(__name__)

#: Status -> small integer; statuses not listed (future data-quality states) are "other".
_CODES: dict[str, int] = {s: i for i, s in enumerate(STATUSES)}
_OTHER = len(STATUSES)
_NORMAL_BITS = (1 << _CODES["ok"]) | (1 << _CODES["warn"])

HOLD, COND, NORMAL = np.int8(0), np.int8(1), np.int8(2)
_ISO = "%Y-%m-%dT%H:%M:%S%.fZ"
#: Status code -> text (the "other" code, and returns, carry no status).
_STATUS_TEXT = np.array([*STATUSES, None], dtype=object)
_NONE = np.iinfo(np.int64).min


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


def _us(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000)


class AlarmEvaluator:
    """Per-sensor alarm phases in numpy arrays; :meth:`evaluate` once per tick."""

    def __init__(self, rules: Mapping[str, RuleConfig], *, author: str = "coptwin") -> None:
        self._rules = {kind: _kind_rule(r) for kind, r in rules.items()}
        self._default = _kind_rule(RuleConfig())
        self.author = author
        self._index = pl.DataFrame(schema={"sensor_id": pl.String, "_idx": pl.Int64})
        self._n = 0
        self._ids = np.empty(0, dtype=object)
        self._layer = np.empty(0, dtype=object)
        self._raise_bits = np.zeros(0, dtype=np.int64)
        self._delay = np.zeros(0, dtype=np.int64)
        self._clear = np.zeros(0, dtype=np.int64)
        self._phase = np.zeros(0, dtype=np.int8)
        #: Reading time at which the current phase was entered, and that reading.
        self._since = np.zeros(0, dtype=np.int64)
        self._since_status = np.zeros(0, dtype=np.int64)
        self._since_value = np.zeros(0, dtype=np.float64)
        self._since_reason = np.empty(0, dtype=object)
        #: This evaluator considers the sensor's alarm condition confirmed.
        self._raised = np.zeros(0, dtype=bool)
        self._suppressed = np.zeros(0, dtype=bool)
        self._service_seen: tuple[frozenset, frozenset, int] | None = None

    def __len__(self) -> int:
        return self._n

    # ---- per-sensor storage ----------------------------------------------------
    def _grow(self, need: int) -> None:
        cap = len(self._phase)
        if need <= cap:
            return
        new = max(need, cap * 2, 1024)

        def grow(a: np.ndarray, fill) -> np.ndarray:
            out = np.full(new, fill, dtype=a.dtype)
            out[:cap] = a
            return out

        self._ids = grow(self._ids, None)
        self._layer = grow(self._layer, None)
        self._raise_bits = grow(self._raise_bits, 0)
        self._delay = grow(self._delay, 0)
        self._clear = grow(self._clear, 0)
        self._phase = grow(self._phase, HOLD)
        self._since = grow(self._since, _NONE)
        self._since_status = grow(self._since_status, _OTHER)
        self._since_value = grow(self._since_value, np.nan)
        self._since_reason = grow(self._since_reason, None)
        self._raised = grow(self._raised, False)
        self._suppressed = grow(self._suppressed, False)

    def _indices(self, changes: pl.DataFrame) -> np.ndarray:
        """Row -> sensor index; sensors seen for the first time get theirs (and rules)."""
        idx = (
            changes.select("sensor_id")
            .join(self._index, on="sensor_id", how="left", maintain_order="left")["_idx"]
            .fill_null(-1)
            .to_numpy(writable=True)
        )
        new = idx < 0
        if not new.any():
            return idx
        fresh = changes.filter(pl.Series(new))
        start, n_new = self._n, fresh.height
        self._grow(start + n_new)
        slots = np.arange(start, start + n_new, dtype=np.int64)
        self._ids[slots] = fresh["sensor_id"].to_numpy()
        kinds = (
            fresh["kind"].fill_null("").to_numpy()
            if "kind" in fresh.columns
            else np.full(n_new, "", dtype=object)
        )
        for kind in np.unique(kinds):  # per rule kind, not per sensor
            rule = self._rules.get(kind, self._default)
            at = slots[kinds == kind]
            self._raise_bits[at] = rule.raise_bits
            self._delay[at] = rule.delay_us
            self._clear[at] = rule.clear_us
        self._n = start + n_new
        self._index = pl.concat(
            [self._index, pl.DataFrame({"sensor_id": fresh["sensor_id"], "_idx": slots})]
        ).rechunk()
        self._service_seen = None
        idx[new] = slots
        return idx

    def _update_suppressed(self, book: AlarmBook | None) -> None:
        if book is None:
            return
        sensors, layers = book.out_of_service_sensors, book.out_of_service_layers
        key = (sensors, layers, self._n)
        if self._service_seen == key:
            return
        self._service_seen = key
        n = self._n
        sup = np.zeros(n, dtype=bool)
        if sensors:
            sup |= np.isin(self._ids[:n], list(sensors))
        if layers:
            sup |= np.isin(self._layer[:n], list(layers))
        self._suppressed[:n] = sup

    # ---- the tick ---------------------------------------------------------------
    def evaluate(
        self, changes: pl.DataFrame | None, now: datetime, book: AlarmBook | None = None
    ) -> pl.DataFrame:
        """Alarm events (canonical alarms-table frame) for this tick.

        ``changes``: the sensors whose status changed, one row each (the latest
        wins when a sensor appears twice); None or empty when nothing changed (due
        delays still fire).  ``book``: the alarms as folded so far; it decides
        raise vs repeat and which sensors are out of service.  Fold the result
        into the book before the next tick.
        """
        if changes is not None and not changes.is_empty():
            self._ingest(changes)
        self._update_suppressed(book)
        return self._due(_us(now), book)

    def _ingest(self, changes: pl.DataFrame) -> None:
        if changes["sensor_id"].n_unique() < changes.height:
            changes = changes.sort("ts").unique("sensor_id", keep="last", maintain_order=True)
        idx = self._indices(changes)
        codes = (
            changes["status"]
            .replace_strict(_CODES, default=_OTHER, return_dtype=pl.Int64)
            .to_numpy()
        )
        ts = changes["ts"].dt.epoch("us").to_numpy()
        bits = self._raise_bits[idx]
        cond = ((bits >> codes) & 1).astype(bool)
        normal = ((_NORMAL_BITS >> codes) & 1).astype(bool) & ~cond
        phase = np.where(cond, COND, np.where(normal, NORMAL, HOLD)).astype(np.int8)
        entered = phase != self._phase[idx]
        at = idx[entered]
        self._phase[idx] = phase
        self._since[at] = ts[entered]
        self._since_status[at] = codes[entered]
        if "value" in changes.columns:
            values = changes["value"].cast(pl.Float64).to_numpy()
            self._since_value[at] = values[entered]
        if "reason" in changes.columns:
            self._since_reason[at] = changes["reason"].to_numpy()[entered]
        if "layer" in changes.columns:
            layers = changes["layer"].to_numpy()
            moved = self._layer[idx] != layers
            if moved.any():
                self._layer[idx] = layers
                self._service_seen = None

    def _due(self, now_us: int, book: AlarmBook | None) -> pl.DataFrame:
        n = self._n
        if n == 0:
            return EVENT_SCHEMA.empty()
        phase, raised, since = self._phase[:n], self._raised[:n], self._since[:n]
        elapsed = now_us - since
        up = np.flatnonzero(
            (phase == COND) & ~raised & ~self._suppressed[:n] & (elapsed >= self._delay[:n])
        )
        down = np.flatnonzero((phase == NORMAL) & raised & (elapsed >= self._clear[:n]))
        if up.size == 0 and down.size == 0:
            return EVENT_SCHEMA.empty()
        self._raised[up] = True
        self._raised[down] = False
        at = np.concatenate([up, down])
        is_up = np.arange(at.size) < up.size
        ids = self._ids[at]
        # The book decides raise vs repeat: one lookup per transition, not per sensor.
        opened = [book.open_for(s) for s in ids] if book is not None else [None] * at.size
        has = np.fromiter((a is not None for a in opened), bool, at.size)
        active = np.fromiter((a is not None and a.active for a in opened), bool, at.size)
        # Up: nothing when the sensor's open alarm is already active (another engine
        # raised it); down: only an open, active alarm returns.
        keep = np.where(is_up, ~active, active)
        event = np.where(is_up, np.where(has, REPEATED, RAISED), RETURNED)
        codes = np.where(is_up, self._since_status[at], _OTHER)
        stamp = pl.col("sensor_id") + "@" + pl.col("ts").dt.strftime(_ISO)
        rows = pl.DataFrame(
            {
                "sensor_id": pl.Series(ids, dtype=pl.String),
                "alarm_id": pl.Series([a.alarm_id if a else None for a in opened], dtype=pl.String),
                "event": event,
                "ts": pl.Series(since[at], dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
                "layer": pl.Series(self._layer[at], dtype=pl.String),
                "status": pl.Series(_STATUS_TEXT[codes], dtype=pl.String),
                "value": self._since_value[at],
                "reason": pl.Series(self._since_reason[at], dtype=pl.String),
            }
        ).filter(pl.Series(keep))
        return rows.select(
            event_id=stamp + "/" + pl.col("event"),
            alarm_id=pl.coalesce(pl.col("alarm_id"), stamp),
            event=pl.col("event"),
            ts=pl.col("ts"),
            author=pl.lit(self.author),
            sensor_id=pl.col("sensor_id"),
            layer=pl.col("layer"),
            status=pl.col("status"),
            value=pl.col("value").fill_nan(None),
            reason=pl.col("reason"),
            until=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
        )

    # ---- introspection ----------------------------------------------------------
    def pending(self, now: datetime) -> dict[str, int]:
        """Sensors waiting out a delay: ``raise`` (condition held, not yet raised) and
        ``return`` (normal, not yet returned)."""
        n = self._n
        phase, raised = self._phase[:n], self._raised[:n]
        return {
            "raise": int(np.count_nonzero((phase == COND) & ~raised & ~self._suppressed[:n])),
            "return": int(np.count_nonzero((phase == NORMAL) & raised)),
        }
