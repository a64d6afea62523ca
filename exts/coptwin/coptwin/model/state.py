"""Latest reading per sensor, merged batch by batch.

A COP table grows for months; the state here grows only with the number of
sensors: one row per sensor (overall latest, which drives the marker), one row
per (sensor, quantity) (which drives ``coptwin:<quantity>`` attributes on bound
buildings), one position per moving sensor, and a fixed-size ring of recent
values per sensor for the panel's plot.  A batch is validated with one polars
query, then merged into numpy columns indexed by the registry's sensor ``idx``
(sort + fancy indexing, no Python loop per row), so a tick's cost follows the
batch, not the table; readers get polars frames.

Bad rows are skipped, counted per reason (``SKIP_REASONS``) and logged in one
line per batch; the rest of the batch applies.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

import numpy as np
import polars as pl

from coptwin.model.columns import DTYPES, SchemaError, cast_ts
from coptwin.model.registry import SensorRegistry

log = logging.getLogger(__name__)

#: Why a reading row can be refused, in the order they are checked.
SKIP_REASONS: tuple[str, ...] = (
    "null_sensor_id",
    "null_ts",
    "unknown_sensor",
    "bad_value",
    "future_ts",
)

_READING_COLS = ("sensor_id", "ts", "value", "quantity", "unit", "lon", "lat", "alt")
#: A reading time meaning "no reading" in the µs arrays.
NO_TS = np.iinfo(np.int64).min
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
#: (sensor, quantity) keys pack the sensor's idx above 2**20 quantity codes.
_Q_BITS = 20


@dataclass(frozen=True)
class ApplyResult:
    """What one batch did to the state."""

    #: Registry indices (sorted) of the sensors whose latest reading, a per-quantity
    #: latest or position changed.
    changed_idx: np.ndarray
    rows_in: int
    rows_applied: int
    #: Skipped rows per reason (only reasons that occurred).
    skipped: dict[str, int] = field(default_factory=dict)
    #: The registry's sensor ids (what ``changed`` names).
    ids: pl.Series | None = field(default=None, repr=False)

    @property
    def changed(self) -> list[str]:
        """The ids of the changed sensors (registry order)."""
        if self.ids is None or self.changed_idx.size == 0:
            return []
        return self.ids.gather(self.changed_idx).to_list()

    @property
    def rows_skipped(self) -> int:
        return sum(self.skipped.values())


_NO_CHANGE = np.zeros(0, dtype=np.int64)


class Readings(NamedTuple):
    """Latest readings of some sensors as arrays (row ``i`` is sensor ``idx[i]``)."""

    #: µs since the epoch; :data:`NO_TS` where the sensor has no reading
    ts: np.ndarray
    #: NaN where the reading carried no value
    value: np.ndarray
    #: text ("" where the reading carried none)
    quantity: np.ndarray
    unit: np.ndarray
    #: True where the reading carried a unit ("" counts as none)
    has_unit: np.ndarray
    #: the newest position a reading carried (NaN: none, a fixed sensor)
    lon: np.ndarray
    lat: np.ndarray


def as_utc(when: datetime) -> datetime:
    """Aware UTC datetime; naive values are taken to be UTC already."""
    if when.tzinfo is None:
        return when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


class _Pool:
    """Low-cardinality strings (quantities, units) as int codes; 0 means null."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.values: list[str] = []
        self._known: set[str] = set()
        self._dtype = pl.Enum([])
        self._series: pl.Series | None = None

    def learn(self, seen: Iterable[str | None]) -> None:
        new = sorted({v for v in seen if v is not None} - self._known)
        if new:
            if len(self.values) + len(new) >= 2**_Q_BITS:
                raise ValueError(f"more than {2**_Q_BITS - 1} distinct {self.what} strings")
            self.values.extend(new)
            self._known.update(new)
            self._dtype = pl.Enum(self.values)
            self._series = None

    def codes(self, column: str) -> pl.Expr:
        """Expression: the column's codes (after :meth:`learn` saw its values)."""
        physical = pl.col(column).cast(self._dtype).to_physical().cast(pl.Int64)
        return (physical + 1).fill_null(0)

    def decode(self, codes: np.ndarray) -> pl.Series:
        if self._series is None:
            self._series = pl.Series([None, *self.values], dtype=pl.Utf8)
        return self._series.gather(codes)

    def texts(self, codes: np.ndarray, null: str | None = None) -> np.ndarray:
        """The strings of ``codes`` as an object array (``null`` for null), sharing one
        str object per distinct value."""
        return np.array([null, *self.values], dtype=object)[codes]

    def code(self, value: str | None) -> int | None:
        if value is None:
            return 0
        try:
            return self.values.index(value) + 1
        except ValueError:
            return None


def _ends(keys: np.ndarray) -> np.ndarray:
    """Positions of the last row of each run of equal ``keys`` (sorted input)."""
    return np.flatnonzero(np.r_[keys[1:] != keys[:-1], True])


def _ts_series(name: str, micros: np.ndarray) -> pl.Series:
    return (
        pl.Series(name, micros, dtype=pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    )


def _nan_null(name: str, values: np.ndarray) -> pl.Series:
    return pl.Series(name, values, dtype=pl.Float64).fill_nan(None)


class _History:
    """Fixed-size rings of (ts, value, quantity) per sensor, written vectorised.

    Rows are numpy-addressed by a slot per sensor that has reported at least
    once, so memory is ``20 bytes x size`` per reporting sensor.  Rings keep
    the most recently *received* rows; readers get them sorted by ts.
    """

    def __init__(self, n_sensors: int, size: int) -> None:
        self.size = max(1, int(size))
        self.slot = np.full(n_sensors, -1, dtype=np.int64)
        self.used = 0
        self.ts = np.zeros((0, self.size), dtype=np.int64)
        self.val = np.zeros((0, self.size), dtype=np.float64)
        self.qty = np.zeros((0, self.size), dtype=np.int32)
        self.count = np.zeros(0, dtype=np.int64)

    def _grow(self, need: int) -> None:
        cap = self.ts.shape[0]
        if need <= cap:
            return
        new_cap = max(need, 2 * cap, 64)

        def grow(a: np.ndarray) -> np.ndarray:
            out = np.zeros((new_cap, *a.shape[1:]), dtype=a.dtype)
            out[:cap] = a
            return out

        self.ts, self.val, self.qty, self.count = map(
            grow, (self.ts, self.val, self.qty, self.count)
        )

    def write(self, idx: np.ndarray, ts: np.ndarray, val: np.ndarray, qty: np.ndarray) -> None:
        """Append rows already sorted by (idx, ts)."""
        if idx.size == 0:
            return
        starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
        counts = np.diff(np.r_[starts, idx.size])
        group = np.repeat(np.arange(starts.size), counts)
        rank = np.arange(idx.size) - starts[group]
        drop = np.maximum(counts - self.size, 0)
        keep = rank >= drop[group]
        uniq = idx[starts]
        fresh = uniq[self.slot[uniq] < 0]
        if fresh.size:
            self._grow(self.used + fresh.size)
            self.slot[fresh] = np.arange(self.used, self.used + fresh.size)
            self.used += fresh.size
        slots = self.slot[uniq]
        row_slot = slots[group][keep]
        pos = (self.count[row_slot] + (rank - drop[group])[keep]) % self.size
        self.ts[row_slot, pos] = ts[keep]
        self.val[row_slot, pos] = val[keep]
        self.qty[row_slot, pos] = qty[keep]
        self.count[slots] += np.minimum(counts, self.size)

    def read(self, idx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = self.slot[idx] if 0 <= idx < self.slot.size else -1
        if s < 0:
            empty = np.zeros(0)
            return empty.astype(np.int64), empty, empty.astype(np.int32)
        n = int(min(self.count[s], self.size))
        ts, val, qty = self.ts[s, :n], self.val[s, :n], self.qty[s, :n]
        order = np.argsort(ts, kind="stable")
        return ts[order], val[order], qty[order]

    def remap(self, old_to_new: np.ndarray, n_new: int) -> None:
        """Follow a registry change: ``old_to_new[old_idx]`` is the new idx or -1."""
        slot = np.full(n_new, -1, dtype=np.int64)
        ok = (old_to_new >= 0) & (self.slot >= 0)
        slot[old_to_new[ok]] = self.slot[ok]
        self.slot = slot


class _ByQuantity:
    """Latest (ts, value, unit) per (sensor, quantity), sparse and sorted by key.

    Steady state updates are ``searchsorted`` lookups (cost follows the batch);
    the key array is re-sorted only when a new (sensor, quantity) pair appears.
    """

    def __init__(self) -> None:
        self.key = np.zeros(0, dtype=np.int64)
        self.ts = np.zeros(0, dtype=np.int64)
        self.val = np.zeros(0, dtype=np.float64)
        self.unit = np.zeros(0, dtype=np.int64)

    def upsert(
        self, key: np.ndarray, ts: np.ndarray, val: np.ndarray, unit: np.ndarray
    ) -> np.ndarray:
        """One row per unique ``key``; returns the keys whose latest changed."""
        pos = np.searchsorted(self.key, key)
        found = pos < self.key.size
        found[found] = self.key[pos[found]] == key[found]
        upd = np.zeros(key.size, dtype=bool)
        upd[found] = ts[found] >= self.ts[pos[found]]
        p = pos[upd]
        self.ts[p], self.val[p], self.unit[p] = ts[upd], val[upd], unit[upd]
        new = ~found
        if new.any():
            k = np.concatenate([self.key, key[new]])
            order = np.argsort(k, kind="stable")
            self.key = k[order]
            self.ts = np.concatenate([self.ts, ts[new]])[order]
            self.val = np.concatenate([self.val, val[new]])[order]
            self.unit = np.concatenate([self.unit, unit[new]])[order]
        return key[upd | new]

    def keep(self, mask: np.ndarray, new_key: np.ndarray) -> None:
        order = np.argsort(new_key[mask], kind="stable")
        self.key = new_key[mask][order]
        self.ts, self.val, self.unit = (a[mask][order] for a in (self.ts, self.val, self.unit))


class LatestState:
    """Latest readings of the registry's sensors, updated from canonical batches.

    Internally columns are numpy arrays indexed by the registry's ``idx`` (so a
    batch updates them with fancy indexing, cost proportional to the batch);
    :attr:`latest` and :attr:`latest_by_quantity` present them as polars frames.
    """

    def __init__(
        self,
        registry: SensorRegistry,
        max_future_skew_s: float = 300.0,
        history_per_sensor: int = 120,
    ) -> None:
        self.max_future_skew = timedelta(seconds=max_future_skew_s)
        self.history_per_sensor = history_per_sensor
        self._set_ids(registry)
        self.reset()

    def _set_ids(self, registry: SensorRegistry) -> None:
        self._registry = registry
        self._ids = registry.frame.select("sensor_id", "idx")
        self._id_series = self._ids["sensor_id"]
        self._idx_of: dict[str, int] | None = None

    # -- bookkeeping -------------------------------------------------------
    @property
    def registry(self) -> SensorRegistry:
        return self._registry

    def reset(self) -> None:
        """Forget all readings and counters (full reload, time travel)."""
        n = self._ids.height
        self._ts = np.full(n, NO_TS, dtype=np.int64)
        self._val = np.full(n, np.nan)
        self._qty = np.zeros(n, dtype=np.int64)
        self._unit = np.zeros(n, dtype=np.int64)
        self._pos_ts = np.full(n, NO_TS, dtype=np.int64)
        self._lon = np.full(n, np.nan)
        self._lat = np.full(n, np.nan)
        self._alt = np.full(n, np.nan)
        self._by_q = _ByQuantity()
        self._quantities = _Pool("quantity")
        self._units = _Pool("unit")
        self._history = _History(n, self.history_per_sensor)
        self._latest_cache: pl.DataFrame | None = None
        self.skipped_total: dict[str, int] = {}
        self.rows_in_total = 0
        self.rows_applied_total = 0

    def set_registry(self, registry: SensorRegistry) -> None:
        """Switch to a new registry, keeping the state of sensors present in both."""
        old_ids = self._ids
        self._set_ids(registry)
        mapping = old_ids.join(self._ids, on="sensor_id", how="left", suffix="_new")
        old_to_new = np.full(old_ids.height, -1, dtype=np.int64)
        matched = mapping.filter(pl.col("idx_new").is_not_null())
        old_to_new[matched["idx"].to_numpy()] = matched["idx_new"].to_numpy()
        n = self._ids.height
        ok = old_to_new >= 0

        def move(a: np.ndarray, fill: float | int) -> np.ndarray:
            out = np.full(n, fill, dtype=a.dtype)
            out[old_to_new[ok]] = a[ok]
            return out

        self._ts, self._pos_ts = move(self._ts, NO_TS), move(self._pos_ts, NO_TS)
        self._qty, self._unit = move(self._qty, 0), move(self._unit, 0)
        self._val, self._lon, self._lat, self._alt = (
            move(a, np.nan) for a in (self._val, self._lon, self._lat, self._alt)
        )
        bq = self._by_q
        new_idx = old_to_new[bq.key >> _Q_BITS]
        bq.keep(new_idx >= 0, (new_idx << _Q_BITS) | (bq.key & ((1 << _Q_BITS) - 1)))
        self._history.remap(old_to_new, n)
        self._latest_cache = None

    # -- the merge ---------------------------------------------------------
    def apply(self, rows: pl.DataFrame, now: datetime) -> ApplyResult:
        """Merge a canonical readings batch; bad rows are skipped and counted."""
        rows = _conform(rows)
        rows_in = rows.height
        self.rows_in_total += rows_in
        if rows_in == 0:
            return ApplyResult(_NO_CHANGE, 0, 0, {}, self._id_series)
        limit_us = (as_utc(now) + self.max_future_skew - _EPOCH) // _US

        def finite(c: str) -> pl.Expr:
            return pl.col(c).is_null() | pl.col(c).is_finite()

        df = self._with_idx(rows)
        seen = df.select(pl.col("quantity", "unit").unique().implode())
        self._quantities.learn(seen["quantity"][0])
        self._units.learn(seen["unit"][0])
        checks = df.select(
            pl.col("idx").fill_null(-1).cast(pl.Int64),
            pl.col("ts").dt.epoch("us").fill_null(NO_TS),
            pl.col("sensor_id").is_null().alias("no_id"),
            (~(finite("value") & finite("lon") & finite("lat") & finite("alt"))).alias("bad"),
            *(pl.col(c).fill_null(np.nan) for c in ("value", "lon", "lat", "alt")),
            self._quantities.codes("quantity").alias("qty"),
            self._units.codes("unit").alias("unit"),
        )
        idx, ts = checks["idx"].to_numpy(), checks["ts"].to_numpy()
        # the first reason that applies, in SKIP_REASONS order (len: none)
        why = np.select(
            [
                checks["no_id"].to_numpy(),
                ts == NO_TS,
                idx < 0,
                checks["bad"].to_numpy(),
                ts > limit_us,
            ],
            np.arange(len(SKIP_REASONS)),
            len(SKIP_REASONS),
        )
        skipped: dict[str, int] = {}
        good = why == len(SKIP_REASONS)
        arr = {c: checks[c].to_numpy() for c in ("value", "lon", "lat", "alt", "qty", "unit")}
        arr["idx"], arr["ts"] = idx, ts
        if not good.all():
            skipped = self._count_skips(df, why)
            arr = {c: a[good] for c, a in arr.items()}
        n_good = int(good.sum())
        if n_good == 0:
            return ApplyResult(_NO_CHANGE, rows_in, 0, skipped, self._id_series)
        self.rows_applied_total += n_good
        idx, ts = arr["idx"], arr["ts"]
        # Sort by (sensor, ts, arrival): equal timestamps -> the later row wins.  A batch
        # usually arrives in that order already (one reading per sensor, by sensor).
        step = np.diff(idx)
        if not ((step > 0) | ((step == 0) & (np.diff(ts) >= 0))).all():
            order = np.lexsort((np.arange(n_good), ts, idx))
            arr = {c: a[order] for c, a in arr.items()}
        idx, ts, val, qty = arr["idx"], arr["ts"], arr["value"], arr["qty"]
        changed = [
            self._merge_latest(idx, ts, val, qty, arr["unit"]),
            self._merge_positions(idx, ts, arr["lon"], arr["lat"], arr["alt"]),
        ]
        key = (idx << _Q_BITS) | qty
        by_key = np.argsort(key, kind="stable")
        last = by_key[_ends(key[by_key])]
        won = self._by_q.upsert(key[last], ts[last], val[last], arr["unit"][last])
        changed.append(won >> _Q_BITS)
        self._history.write(idx, ts, val, qty)
        self._latest_cache = None
        mark = np.zeros(len(self._ts), dtype=bool)
        for part in changed:
            mark[part] = True
        changed_idx = np.flatnonzero(mark)
        return ApplyResult(changed_idx, rows_in, n_good, skipped, self._id_series)

    def _with_idx(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``rows`` with each sensor's registry ``idx`` (null or -1: unknown).  A join
        hashes the whole registry, so a batch much smaller than the fleet looks its
        sensors up one by one instead: the cost follows the batch, not the fleet."""
        if rows.height * 8 >= self._ids.height:
            return rows.join(self._ids, on="sensor_id", how="left", maintain_order="left")
        get = self._lookup().get
        idx = [get(s, -1) for s in rows["sensor_id"].to_list()]
        return rows.with_columns(pl.Series("idx", idx, dtype=pl.Int64))

    def _merge_latest(
        self, idx: np.ndarray, ts: np.ndarray, val: np.ndarray, qty: np.ndarray, unit: np.ndarray
    ) -> np.ndarray:
        last = _ends(idx)
        e = idx[last]
        won = ts[last] >= self._ts[e]
        e, last = e[won], last[won]
        self._ts[e], self._val[e] = ts[last], val[last]
        self._qty[e], self._unit[e] = qty[last], unit[last]
        return e

    def _merge_positions(
        self, idx: np.ndarray, ts: np.ndarray, lon: np.ndarray, lat: np.ndarray, alt: np.ndarray
    ) -> np.ndarray:
        has = ~(np.isnan(lon) | np.isnan(lat))
        if not has.any():
            return np.zeros(0, dtype=np.int64)
        idx, ts, lon, lat, alt = idx[has], ts[has], lon[has], lat[has], alt[has]
        last = _ends(idx)
        e = idx[last]
        won = ts[last] >= self._pos_ts[e]
        e, last = e[won], last[won]
        self._pos_ts[e], self._lon[e], self._lat[e], self._alt[e] = (
            ts[last],
            lon[last],
            lat[last],
            alt[last],
        )
        return e

    def _count_skips(self, df: pl.DataFrame, why: np.ndarray) -> dict[str, int]:
        """Count and log the rows ``why`` refuses (a code into SKIP_REASONS; past the
        end: good)."""
        names = pl.Series([*SKIP_REASONS, None], dtype=pl.Utf8)
        df = df.with_columns(names.gather(why).alias("_reason"))
        bad = df.filter(pl.col("_reason").is_not_null())
        counts = bad.group_by("_reason").len()
        found = dict(zip(counts["_reason"].to_list(), counts["len"].to_list(), strict=True))
        skipped = {r: found[r] for r in SKIP_REASONS if r in found}
        for r, n in skipped.items():
            self.skipped_total[r] = self.skipped_total.get(r, 0) + n
        unknown = bad.filter(pl.col("_reason") == "unknown_sensor")["sensor_id"]
        examples = unknown.unique(maintain_order=True).head(3).to_list()
        log.warning(
            "readings: skipped %d of %d rows (%s)%s",
            bad.height,
            df.height,
            ", ".join(f"{k}={v}" for k, v in skipped.items()),
            f"; unknown sensors e.g. {', '.join(examples)}" if examples else "",
        )
        return skipped

    # -- readers -----------------------------------------------------------
    def _frame_at(self, idx: np.ndarray) -> pl.DataFrame:
        return pl.DataFrame(
            [
                self._id_series.gather(idx),
                _ts_series("ts", self._ts[idx]),
                _nan_null("value", self._val[idx]),
                self._quantities.decode(self._qty[idx]).alias("quantity"),
                self._units.decode(self._unit[idx]).alias("unit"),
                _nan_null("lon", self._lon[idx]),
                _nan_null("lat", self._lat[idx]),
                _nan_null("alt", self._alt[idx]),
            ]
        )

    @property
    def latest(self) -> pl.DataFrame:
        """One row per sensor with a reading, in registry order: ``sensor_id, ts,
        value, quantity, unit, lon, lat, alt`` (position from the latest row
        that carried one; null for fixed sensors)."""
        if self._latest_cache is None:
            self._latest_cache = self._frame_at(np.flatnonzero(self._ts != NO_TS))
        return self._latest_cache

    def latest_at(self, idx: np.ndarray) -> pl.DataFrame:
        """The latest reading of registry sensors ``idx``, one row each in that order
        (nulls for a sensor with no reading yet): ``ts, value, quantity, unit``."""
        ts = self._ts[idx].astype("datetime64[us]")
        ts[self._ts[idx] == NO_TS] = np.datetime64("NaT")
        return pl.DataFrame(
            [
                pl.Series("ts", ts).dt.replace_time_zone("UTC"),
                _nan_null("value", self._val[idx]),
                self._quantities.decode(self._qty[idx]).alias("quantity"),
                self._units.decode(self._unit[idx]).alias("unit"),
            ]
        )

    def readings_at(self, idx: np.ndarray) -> Readings:
        """The latest reading of registry sensors ``idx`` as arrays (the engine's hot
        path: no frame, no string per row beyond shared objects)."""
        unit = self._unit[idx]
        empty = self._units.code("")
        return Readings(
            self._ts[idx],
            self._val[idx],
            self._quantities.texts(self._qty[idx], ""),
            self._units.texts(unit, ""),
            (unit != 0) & (unit != (empty or 0)),
            self._lon[idx],
            self._lat[idx],
        )

    def driving_at(
        self, idx: np.ndarray, quantity: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, pl.Series]:
        """``(ts, value, unit)`` of the reading that drives each sensor's status:
        its newest reading of ``quantity[i]`` (a rule's quantity), or its newest
        reading at all where ``quantity[i]`` is None.  ``ts`` is :data:`NO_TS` where
        there is none.  One searchsorted per distinct quantity, never a loop per sensor."""
        ts, val, unit = self._ts[idx], self._val[idx], self._unit[idx]
        named = np.flatnonzero(quantity != None)  # noqa: E711 - elementwise on objects
        if named.size:
            ts, val, unit = ts.copy(), val.copy(), unit.copy()
            ts[named] = NO_TS
            bq = self._by_q
            for q in set(quantity[named].tolist()):
                rows = named[quantity[named] == q]
                code = self._quantities.code(q)
                if code is None or code == 0 or bq.key.size == 0:
                    continue  # never reported: no reading of it
                key = (idx[rows] << _Q_BITS) | code
                pos = np.minimum(np.searchsorted(bq.key, key), bq.key.size - 1)
                hit = bq.key[pos] == key
                rows, pos = rows[hit], pos[hit]
                ts[rows], val[rows], unit[rows] = bq.ts[pos], bq.val[pos], bq.unit[pos]
        return ts, val, self._units.decode(unit)

    def quantities_at(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(i, quantity, value)``: every (sensor, quantity) latest with a quantity and a
        value of sensors ``idx``, where ``i`` is the position in ``idx`` (sorted)."""
        keys = self._by_q.key
        lo = np.searchsorted(keys, idx << _Q_BITS)
        hi = np.searchsorted(keys, (idx + 1) << _Q_BITS)
        counts = hi - lo
        rows = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        owner = np.repeat(np.arange(idx.size), counts)
        code = keys[rows] & ((1 << _Q_BITS) - 1)
        val = self._by_q.val[rows]
        ok = (code != 0) & ~np.isnan(val)
        return owner[ok], self._quantities.texts(code[ok]), val[ok]

    def latest_for(self, ids: Iterable[str]) -> pl.DataFrame:
        """The :attr:`latest` rows of some sensors only (e.g. ``ApplyResult.changed``);
        cost follows ``len(ids)``, not the fleet."""
        lookup = self._lookup()
        idx = np.fromiter((lookup.get(i, -1) for i in ids), dtype=np.int64)
        idx = idx[idx >= 0]
        return self._frame_at(idx[self._ts[idx] != NO_TS])

    @property
    def latest_by_quantity(self) -> pl.DataFrame:
        """One row per (sensor, quantity): ``sensor_id, quantity, ts, value, unit``
        (rows that carried no quantity share one row with a null quantity)."""
        return self._by_quantity_rows(np.arange(self._by_q.key.size))

    def latest_by_quantity_for(self, ids: Iterable[str]) -> pl.DataFrame:
        """:attr:`latest_by_quantity` of some sensors only; cost follows ``len(ids)``."""
        lookup = self._lookup()
        idx = np.fromiter((lookup.get(i, -1) for i in ids), dtype=np.int64)
        idx = np.unique(idx[idx >= 0])
        keys = self._by_q.key
        lo = np.searchsorted(keys, idx << _Q_BITS)
        hi = np.searchsorted(keys, (idx + 1) << _Q_BITS)
        counts = hi - lo
        # the concatenated ranges lo[i] .. hi[i]
        rows = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        return self._by_quantity_rows(rows)

    def _by_quantity_rows(self, rows: np.ndarray) -> pl.DataFrame:
        bq = self._by_q
        key = bq.key[rows]
        return pl.DataFrame(
            [
                self._id_series.gather(key >> _Q_BITS),
                self._quantities.decode(key & ((1 << _Q_BITS) - 1)).alias("quantity"),
                _ts_series("ts", bq.ts[rows]),
                _nan_null("value", bq.val[rows]),
                self._units.decode(bq.unit[rows]).alias("unit"),
            ]
        )

    def __len__(self) -> int:
        """Number of sensors with at least one reading."""
        return int(np.count_nonzero(self._ts != NO_TS))

    def _lookup(self) -> dict[str, int]:
        if self._idx_of is None:
            ids = self._id_series.to_list()
            self._idx_of = dict(zip(ids, range(len(ids)), strict=True))
        return self._idx_of

    def recent(
        self, idx: np.ndarray, quantities: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The recent readings of registry sensors ``idx`` as two ``(len(idx),
        history_per_sensor)`` arrays, each row oldest first: ``ts`` (microseconds since
        the epoch) and ``value``.  Empty slots, and readings of another quantity than
        ``quantities[i]`` (when given and not None), come first with ts ``iinfo(int64).min``
        and value NaN.  Vectorised, for the data-quality checks (flat line, rate)."""
        h = self._history
        k, size = idx.size, h.size
        ts = np.full((k, size), NO_TS, dtype=np.int64)
        val = np.full((k, size), np.nan)
        slot = h.slot[idx] if k else np.zeros(0, dtype=np.int64)
        has = slot >= 0
        if not has.any():
            return ts, val
        s = slot[has]
        t, v = h.ts[s], h.val[s]  # fancy indexing: copies
        ok = np.arange(size)[None, :] < np.minimum(h.count[s], size)[:, None]
        if quantities is not None:
            names = np.asarray(quantities, dtype=object)[has]
            any_q = names == None  # noqa: E711 - elementwise on objects
            codes = np.full(names.size, -1, dtype=np.int64)
            for q in set(names[~any_q].tolist()):  # one pass per distinct quantity
                codes[names == q] = self._quantities.code(q) or -1
            ok &= any_q[:, None] | (h.qty[s] == codes[:, None])
        t[~ok], v[~ok] = NO_TS, np.nan
        order = np.argsort(t, axis=1, kind="stable")
        ts[has] = np.take_along_axis(t, order, axis=1)
        val[has] = np.take_along_axis(v, order, axis=1)
        return ts, val

    def history(
        self, sensor_id: str, quantity: str | None = None
    ) -> list[tuple[datetime, float | None]]:
        """Recent ``(ts, value)`` pairs of one sensor, oldest first (at most
        ``history_per_sensor``); ``quantity`` keeps only that quantity's rows."""
        idx = self._lookup().get(sensor_id)
        if idx is None:
            return []
        ts, val, qty = self._history.read(idx)
        if quantity is not None:
            code = self._quantities.code(quantity)
            if code is None:
                return []
            mask = qty == code
            ts, val = ts[mask], val[mask]
        return [
            (_EPOCH + timedelta(microseconds=int(t)), None if np.isnan(v) else float(v))
            for t, v in zip(ts, val, strict=True)
        ]


def _conform(rows: pl.DataFrame) -> pl.DataFrame:
    """Canonical readings columns with canonical dtypes (adds missing optionals)."""
    if rows.width == 0:
        return pl.DataFrame(schema={c: DTYPES["readings"][c] for c in _READING_COLS})
    missing = [c for c in ("sensor_id", "ts") if c not in rows.columns]
    if missing:
        raise SchemaError(
            f"readings batch lacks canonical column(s) {', '.join(missing)}; "
            "pass it through coptwin.model.columns.to_canonical first"
        )
    dtypes = DTYPES["readings"]
    schema = rows.schema
    if all(c in schema and schema[c] == dtypes[c] for c in _READING_COLS):
        return rows  # already canonical (extra columns such as date are harmless)
    exprs = []
    for c in _READING_COLS:
        dtype = dtypes[c]
        if c not in rows.columns:
            exprs.append(pl.lit(None, dtype=dtype).alias(c))
        elif rows.schema[c] == dtype:
            exprs.append(pl.col(c))
        elif c == "ts":
            exprs.append(cast_ts(pl.col(c), rows.schema[c]).alias(c))
        else:
            exprs.append(pl.col(c).cast(dtype, strict=False))
    return rows.select(exprs)
