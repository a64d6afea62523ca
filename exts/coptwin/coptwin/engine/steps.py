"""Reading -> colour: the steps of a tick, each a function over columns.

====================  ==============================================================
``merge``             a batch of reading rows into the latest state -> the registry
                      indices of the changed sensors
``evaluate``          the rules where something may have changed (changed sensors and
                      those whose status can age), then the data-quality post-step
                      (:mod:`coptwin.model.quality`) -> ``sensor_id, idx, status``
                      and the reason's inputs, for the sensors to redraw
``colour``            status codes -> (N, 3) linear RGB
``marker_batch``      verdicts + latest readings + sensor facts -> the overlay's
                      :class:`~coptwin.scene.overlay.MarkerBatch`
====================  ==============================================================

Every step takes and returns frames or arrays indexed by the registry's ``idx``,
never one object per sensor, so a tick's cost follows what changed and stays in
numpy/polars.  :class:`Verdicts` is what the COP shows per sensor (status and
reason, in registry order) plus the schedule of when a status can next change by
time alone; its arrays are replaced, never written in place, so a
:meth:`Verdicts.view` taken under the engine's lock stays valid without it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

import numpy as np
import polars as pl

from coptwin.config import STATUSES, Config
from coptwin.engine.aging import AgingSchedule
from coptwin.geo.placement import Placer
from coptwin.model import quality
from coptwin.model.palette import color_array
from coptwin.model.reasons import reason
from coptwin.model.registry import SensorRegistry
from coptwin.model.rules import REASON_COLUMNS, evaluate_at, rule_quantities
from coptwin.model.state import ApplyResult, LatestState, Readings
from coptwin.scene.overlay import MarkerBatch

#: Evaluations kept for reasons not yet put in words; beyond, they are merged into one.
_KEPT_EVALUATIONS = 64
_UNKNOWN = STATUSES.index("unknown")


class SensorFacts(NamedTuple):
    """What a marker needs of each registered sensor that does not change between
    ticks: one object array per column, in registry order (``idx`` indexes them)."""

    sensor_id: np.ndarray
    layer: np.ndarray
    kind: np.ndarray
    unit: np.ndarray
    #: "exact" or "fallback" (see coptwin.geo.placement)
    placement: np.ndarray
    #: "" or the bound building's prim path
    bound_prim: np.ndarray
    #: bound_prim != "" (a boolean array)
    bound: np.ndarray

    @classmethod
    def empty(cls) -> SensorFacts:
        return cls(*(np.array([], dtype=object) for _ in cls._fields))


def sensor_facts(registry: SensorRegistry, placed: pl.DataFrame) -> SensorFacts:
    """The facts of every registry sensor (placement "exact" and unbound when not placed)."""
    where = placed.select(
        "sensor_id",
        pl.col("placement").cast(pl.Utf8),
        pl.col("prim_path").fill_null("").cast(pl.Utf8).alias("bound_prim"),
    ).unique("sensor_id", keep="first")
    frame = (
        registry.frame.select("sensor_id", "layer", "kind", "unit")
        .join(where, on="sensor_id", how="left", maintain_order="left")
        .select(
            "sensor_id",
            pl.col("layer").fill_null(""),
            pl.col("kind").fill_null(""),
            pl.col("unit").fill_null(""),
            pl.col("placement").fill_null("exact"),
            pl.col("bound_prim").fill_null(""),
        )
    )
    columns = [frame[name].to_numpy().astype(object) for name in SensorFacts._fields[:-1]]
    return SensorFacts(*columns, frame["bound_prim"].to_numpy() != "")


def sensor_positions(registry: SensorRegistry, placed: pl.DataFrame) -> np.ndarray:
    """``(n, 3)`` stage positions in registry order (NaN where a sensor is not placed)."""
    frame = registry.frame.select("sensor_id").join(
        placed.select("sensor_id", "x", "y", "z").unique("sensor_id", keep="first"),
        on="sensor_id",
        how="left",
        maintain_order="left",
    )
    return frame.select(pl.col("x", "y", "z").cast(pl.Float64)).to_numpy().reshape(-1, 3)


def merge(state: LatestState, rows: pl.DataFrame, now: datetime, *, reset: bool) -> ApplyResult:
    """Step 1: canonical reading rows into the latest state (``reset`` first on a full
    reload); the result names the sensors whose latest reading changed."""
    if reset:
        state.reset()
    return state.apply(rows, now)


class Judged(NamedTuple):
    """What :func:`evaluate` found: the rows to redraw and the readings behind them."""

    #: ``sensor_id, idx, status`` and the reason's inputs of the sensors to redraw
    rows: pl.DataFrame
    #: their registry indices (sorted) and status codes (:attr:`Verdicts.names`)
    idx: np.ndarray
    codes: np.ndarray
    #: every evaluated sensor (sorted; a superset of ``idx``) and its latest reading
    evaluated: np.ndarray
    readings: Readings


class VerdictView(NamedTuple):
    """The verdicts at one moment (what a snapshot keeps): nothing here is written
    again, so it is read without the engine's lock."""

    names: tuple[str, ...]
    codes: np.ndarray
    source: np.ndarray
    row: np.ndarray
    evaluations: dict[int, pl.DataFrame]
    rules: pl.DataFrame
    #: (evaluation, row) -> reason in words; shared and only ever added to
    words: dict[tuple[int, int], str]

    def status(self, i: int) -> str:
        return self.names[self.codes[i]]

    def reason(self, i: int) -> str:
        """Why registry sensor ``i`` has its status, e.g. "value 31.2 °C above alarm_high 30"."""
        key = (int(self.source[i]), int(self.row[i]))
        words = self.words.get(key)
        if words is None:
            if key[0] < 0:
                return ""
            inputs = self.evaluations[key[0]].row(key[1])
            words = self.words[key] = reason(*inputs, limits=self.rules.row(i, named=True))
        return words


class Verdicts:
    """Each registered sensor's status as the COP shows it and why (registry order),
    and when each status can next change with no new reading (aging).

    Statuses are codes into :attr:`names` (the rules' statuses first).  The reason is
    kept as the deciding rule and its numbers; it is put in words when someone reads
    it (:meth:`reason`), not for every sensor of every tick.
    """

    def __init__(self, rules: pl.DataFrame | None = None) -> None:
        #: the sensors' rules (:func:`coptwin.model.quality.rule_frame`, registry order)
        self.rules = rules if rules is not None else pl.DataFrame()
        n = self.rules.height
        self.names: tuple[str, ...] = STATUSES
        self._enum = pl.Enum(self.names)
        self.codes = np.full(n, _UNKNOWN, dtype=np.int16)
        self.aging = AgingSchedule(self.rules)
        # The reason's inputs stay in the evaluation that produced them: sensor i's
        # are row _row[i] of evaluation _source[i] (-1: not evaluated yet).
        self._source = np.full(n, -1, dtype=np.int64)
        self._row = np.zeros(n, dtype=np.int64)
        self._evaluations: dict[int, pl.DataFrame] = {}
        self._next = 0
        self._words: dict[tuple[int, int], str] = {}
        self._status: np.ndarray | None = None

    @property
    def status(self) -> np.ndarray:
        """Status text per registry sensor (an object array, built when asked)."""
        if self._status is None:
            self._status = np.array(self.names, dtype=object)[self.codes]
        return self._status

    def codes_of(self, statuses: pl.Series) -> np.ndarray:
        """Codes of status texts, learning names the rules do not have."""
        if statuses.len() <= 16:  # a few sensors: cheaper than a cast
            code_of = {name: i for i, name in enumerate(self.names)}
            texts = ["unknown" if s is None else s for s in statuses.to_list()]
            if all(s in code_of for s in texts):
                return np.array([code_of[s] for s in texts], dtype=np.int16)
        statuses = statuses.fill_null("unknown")
        codes = statuses.cast(self._enum, strict=False)
        if codes.null_count():
            new = statuses.filter(codes.is_null()).unique().sort().to_list()
            self.names = (*self.names, *new)
            self._enum = pl.Enum(self.names)
            codes = statuses.cast(self._enum)
        return codes.to_physical().to_numpy().astype(np.int16)

    def record(self, judged: pl.DataFrame, keep: Iterable[str] | np.ndarray | None) -> pl.DataFrame:
        """Store ``judged`` verdicts (:func:`coptwin.model.rules.evaluate` rows); return
        the rows to redraw: those in ``keep`` (sensor ids or registry indices; None:
        all) and those whose status changed."""
        idx = judged["idx"].to_numpy().astype(np.int64)
        codes = self.codes_of(judged["status"])
        differs = self.codes[idx] != codes
        updated = self.codes.copy()  # replaced, never written: views stay valid
        updated[idx] = codes
        self.codes, self._status = updated, None
        self._keep_inputs(idx, judged.select(*REASON_COLUMNS, *_details(judged)))
        if keep is None or differs.all():
            return judged
        if isinstance(keep, np.ndarray):
            wanted = np.isin(idx, keep)
        else:
            ids = pl.Series(list(keep), dtype=pl.Utf8)
            wanted = judged["sensor_id"].is_in(ids.implode()).to_numpy()
        return judged.filter(pl.Series(differs | wanted))

    def _keep_inputs(self, idx: np.ndarray, inputs: pl.DataFrame) -> None:
        key, self._next = self._next, self._next + 1
        evaluations = {**self._evaluations, key: inputs}
        source, row = self._source.copy(), self._row.copy()
        source[idx] = key
        row[idx] = np.arange(idx.size)
        if len(evaluations) > _KEPT_EVALUATIONS:
            evaluations, source, row = self._merged(evaluations, source, row)
        self._evaluations, self._source, self._row = evaluations, source, row

    def _merged(
        self, evaluations: dict[int, pl.DataFrame], source: np.ndarray, row: np.ndarray
    ) -> tuple[dict[int, pl.DataFrame], np.ndarray, np.ndarray]:
        """Every sensor's reason inputs in one new evaluation (bounded memory)."""
        has = np.flatnonzero(source >= 0)
        order = has[np.argsort(source[has], kind="stable")]
        keys, starts = np.unique(source[order], return_index=True)
        parts = [
            evaluations[int(k)][row[sel]]
            for k, sel in zip(keys, np.split(order, starts[1:]), strict=True)
        ]
        key, self._next = self._next, self._next + 1
        source, row = np.full_like(source, -1), np.zeros_like(row)
        source[order] = key
        row[order] = np.arange(order.size)
        self._words = {}
        return {key: pl.concat(parts)}, source, row

    def view(self) -> VerdictView:
        """The verdicts as they are now (O(1): the arrays are never written again)."""
        return VerdictView(
            self.names,
            self.codes,
            self._source,
            self._row,
            self._evaluations,
            self.rules,
            self._words,
        )

    def reason(self, i: int) -> str:
        """Why registry sensor ``i`` has its status, e.g. "value 31.2 °C above alarm_high 30"."""
        return self.view().reason(i)


def _details(judged: pl.DataFrame) -> list[pl.Expr]:
    """The data-quality post-step's measured numbers (null where it added none)."""
    return [
        pl.col(c) if c in judged.columns else pl.lit(None, pl.Float64).alias(c)
        for c in quality.DETAIL_COLUMNS
    ]


def evaluate(
    state: LatestState,
    config: Config,
    verdicts: Verdicts,
    now: datetime,
    changed: np.ndarray | None,
    *,
    everyone: bool = False,
    aging: bool = True,
) -> Judged | None:
    """Step 2: the rules for the ``changed`` sensors (registry indices; None: all) and,
    with ``aging``, those whose stale/offline/idle deadline has passed (``everyone``:
    every sensor, rebuilding the aging schedule).  A tick's cost follows what changed,
    not the fleet.

    Returns the changed sensors plus every evaluated one whose status changed, or
    None when nothing needs redrawing.
    """
    registry = state.registry
    due = np.zeros(0, dtype=np.int64)
    if everyone or changed is None:
        everyone = True
        idx = np.arange(len(registry), dtype=np.int64)
        verdicts.aging.clear()
    else:
        due = verdicts.aging.due(now) if aging else due
        idx = np.union1d(changed, due) if due.size else np.asarray(changed, dtype=np.int64)
        if not idx.size:
            return None
    ts, value, unit = state.driving_at(idx, rule_quantities(registry, config)[idx])
    judged = evaluate_at(registry, config, now, idx, ts, value, unit)
    judged = quality.apply(judged, verdicts.codes, verdicts.names, state, config)
    verdicts.aging.schedule(idx, ts, now)
    # only evaluations beyond the changed sensors (aged ones, everyone) may be left out
    rows = verdicts.record(judged, changed if (everyone or due.size) else None)
    if not rows.height:
        return None
    redraw = rows["idx"].to_numpy().astype(np.int64)
    return Judged(rows, redraw, verdicts.codes[redraw], idx, state.readings_at(idx))


def colour(codes: np.ndarray, names: Iterable[str]) -> np.ndarray:
    """Step 3: ``(N, 3)`` float32 linear colours of status codes into ``names``."""
    return color_array(list(names))[codes]


def moved_positions(judged: Judged, placer: Placer) -> tuple[np.ndarray, np.ndarray]:
    """``(idx, xyz)``: where evaluated sensors whose latest reading carries a position
    (GPS trackers) now are."""
    rd = judged.readings
    has = np.flatnonzero(~(np.isnan(rd.lon) | np.isnan(rd.lat)))
    if not has.size:
        return has, np.zeros((0, 3))  # the common case: fixed sensors only
    pts = placer.place_points(rd.lon[has], rd.lat[has], mount="ground")
    return judged.evaluated[has], np.asarray(pts, dtype=np.float64).reshape(-1, 3)


def marker_batch(
    judged: Judged,
    state: LatestState,
    verdicts: Verdicts,
    facts: SensorFacts,
    positions: np.ndarray,
) -> MarkerBatch:
    """Step 4: the overlay's input for the judged rows: status and colour, the latest
    reading, the sensor's facts, ``positions`` (one row per judged row, NaN where a
    marker stays where it is) and, for bound sensors, every quantity for their
    building."""
    idx = judged.idx
    at = np.searchsorted(judged.evaluated, idx)
    rd = Readings(*(column[at] for column in judged.readings))
    units = np.where(rd.has_unit, rd.unit, facts.unit[idx])
    bound = facts.bound_prim[idx]
    bound_rows = np.flatnonzero(facts.bound[idx])
    owner, names, values = building_quantities(state, idx, bound_rows)
    return MarkerBatch(
        sensor_ids=facts.sensor_id[idx],
        layers=facts.layer[idx],
        kinds=facts.kind[idx],
        colors=colour(judged.codes, verdicts.names),
        statuses=np.array(verdicts.names, dtype=object)[judged.codes],
        values=rd.value,
        units=units,
        ts=rd.ts,
        quantities=rd.quantity,
        placements=facts.placement[idx],
        bound_prims=bound,
        positions=positions,
        building_attrs=(owner, names, values),
        keys=idx,
        key_space=facts.sensor_id,
    )


def building_quantities(
    state: LatestState, idx: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latest value of every quantity the sensors ``idx[rows]`` report, for their
    buildings: ``(row, quantity, value)`` arrays.

    The marker shows the newest reading; the building carries one
    ``coptwin:<quantity>`` per quantity (a logger reporting temperature and
    humidity sets both).
    """
    if not rows.size:
        return rows, np.zeros(0, dtype=object), np.zeros(0)
    owner, names, values = state.quantities_at(idx[rows])
    return rows[owner], names, values
