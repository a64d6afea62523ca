"""Reading -> colour: the steps of a tick, each a function over columns.

====================  ==============================================================
``merge``             a batch of reading rows into the latest state -> changed sensors
``evaluate``          the rules where something may have changed (changed sensors and
                      those whose status can age) -> ``sensor_id, idx, status`` and
                      the reason's inputs, for the sensors to redraw
``colour``            statuses -> (N, 3) linear RGB
``marker_batch``      verdicts + latest readings + sensor facts -> the overlay's
                      :class:`~coptwin.scene.overlay.MarkerBatch`
====================  ==============================================================

Every step takes and returns frames or arrays, never one object per sensor, so a
step's inside can be vectorised further without touching the others.
:class:`Verdicts` is what the COP shows per sensor (status and reason, in registry
order) plus the schedule of when a status can next change by time alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import NamedTuple

import numpy as np
import polars as pl

from coptwin.config import Config
from coptwin.engine.aging import AgingSchedule
from coptwin.geo.placement import Placer
from coptwin.model import quality
from coptwin.model.palette import color_array
from coptwin.model.quality import reason
from coptwin.model.registry import SensorRegistry
from coptwin.model.rules import REASON_COLUMNS
from coptwin.model.rules import evaluate as evaluate_rules
from coptwin.model.state import ApplyResult, LatestState
from coptwin.scene.overlay import MarkerBatch

Position = tuple[float, float, float]

#: Evaluations kept for reasons not yet put in words, at most (see Verdicts.reason).
_KEPT_EVALUATIONS = 64


class SensorFacts(NamedTuple):
    """What a marker needs of each registered sensor that does not change between
    ticks: one array per column, in registry order (``idx`` indexes them)."""

    layer: np.ndarray
    kind: np.ndarray
    unit: np.ndarray
    #: "exact" or "fallback" (see coptwin.geo.placement)
    placement: np.ndarray
    #: "" or the bound building's prim path
    bound_prim: np.ndarray

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
            pl.col("layer").fill_null(""),
            pl.col("kind").fill_null(""),
            pl.col("unit").fill_null(""),
            pl.col("placement").fill_null("exact"),
            pl.col("bound_prim").fill_null(""),
        )
    )
    return SensorFacts(*(frame[name].to_numpy().astype(object) for name in SensorFacts._fields))


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
    #: latest reading of (at least) those sensors, and their latest per quantity
    latest: pl.DataFrame
    by_quantity: pl.DataFrame


class Verdicts:
    """Each registered sensor's status as the COP shows it and why (registry order),
    and when each status can next change with no new reading (aging).

    The reason is kept as the deciding rule and its numbers; it is put in words
    when someone reads it (:meth:`reason`), not for every sensor of every tick.
    """

    def __init__(self, rules: pl.DataFrame | None = None) -> None:
        #: the sensors' rules (:func:`coptwin.model.quality.rule_frame`, registry order)
        self.rules = rules if rules is not None else pl.DataFrame()
        n = self.rules.height
        self.status = np.full(n, "unknown", dtype=object)
        self.aging = AgingSchedule()
        # The reason's inputs stay in the evaluation that produced them: sensor i's
        # are row _row[i] of evaluation _source[i] (-1: not evaluated yet).
        self._source = np.full(n, -1, dtype=np.int64)
        self._row = np.zeros(n, dtype=np.int64)
        self._evaluations: dict[int, pl.DataFrame] = {}
        self._next = 0
        #: reasons in words, None until asked for after a new verdict
        self._words = np.full(n, "", dtype=object)

    def record(self, judged: pl.DataFrame, keep: Iterable[str] | None) -> pl.DataFrame:
        """Store ``judged`` verdicts (:func:`coptwin.model.rules.evaluate` rows); return
        the rows to redraw: those in ``keep`` (None: all) and those whose status changed."""
        idx = judged["idx"].to_numpy()
        status = judged["status"].to_numpy()
        differs = self.status[idx] != status
        self.status[idx] = status
        self._keep_inputs(idx, judged.select(REASON_COLUMNS))
        if keep is None or differs.all():
            return judged
        keep = pl.Series(list(keep), dtype=pl.Utf8)
        return judged.filter(pl.Series(differs) | pl.col("sensor_id").is_in(keep.implode()))

    def _keep_inputs(self, idx: np.ndarray, inputs: pl.DataFrame) -> None:
        key, self._next = self._next, self._next + 1
        self._evaluations[key] = inputs
        self._source[idx] = key
        self._row[idx] = np.arange(idx.size)
        self._words[idx] = None
        if len(self._evaluations) > _KEPT_EVALUATIONS:  # forget what no sensor refers to
            live = set(np.unique(self._source).tolist())
            self._evaluations = {k: f for k, f in self._evaluations.items() if k in live}

    def reason(self, i: int) -> str:
        """Why registry sensor ``i`` has its status, e.g. "value 31.2 °C above alarm_high 30"."""
        words = self._words[i]
        if words is None:
            inputs = self._evaluations[int(self._source[i])].row(int(self._row[i]))
            words = self._words[i] = reason(*inputs, limits=self.rules.row(i, named=True))
        return words


def evaluate(
    state: LatestState,
    config: Config,
    verdicts: Verdicts,
    now: datetime,
    changed: list[str],
    *,
    everyone: bool = False,
    aging: bool = True,
) -> Judged | None:
    """Step 2: the rules for the ``changed`` sensors and, with ``aging``, those whose
    stale/offline/idle deadline has passed (``everyone``: every sensor, rebuilding
    the aging schedule).  A tick's cost follows what changed, not the fleet.

    Returns the changed sensors plus every evaluated one whose status changed, or
    None when nothing needs redrawing.
    """
    registry = state.registry
    due: list[str] = []
    if everyone:
        ids = None
        latest, by_quantity = state.latest, state.latest_by_quantity
        verdicts.aging.clear()
    else:
        due = verdicts.aging.due(now) if aging else []
        ids = list(dict.fromkeys([*changed, *due])) if due else changed
        if not ids:
            return None
        latest, by_quantity = state.latest_for(ids), state.latest_by_quantity_for(ids)
    judged = evaluate_rules(latest, registry, config, now, ids=ids, by_quantity=by_quantity)
    judged = quality.apply(judged, verdicts.status, state, config)
    verdicts.aging.schedule(by_quantity, verdicts.rules, now)
    # only evaluations beyond the changed sensors (aged ones, everyone) may be left out
    rows = verdicts.record(judged, changed if (everyone or due) else None)
    return Judged(rows, latest, by_quantity) if rows.height else None


def colour(statuses: pl.Series) -> np.ndarray:
    """Step 3: ``(N, 3)`` float32 linear colours of the statuses (the palette)."""
    return color_array(statuses.to_list())


def moved_positions(latest: pl.DataFrame, placer: Placer) -> dict[str, Position]:
    """Where sensors whose latest reading carries a position now are (GPS trackers)."""
    if latest["lon"].null_count() == latest.height:
        return {}  # the common case: fixed sensors only
    movers = latest.filter(pl.col("lon").is_not_null() & pl.col("lat").is_not_null())
    if movers.height == 0:
        return {}
    pts = placer.place_points(movers["lon"].to_numpy(), movers["lat"].to_numpy(), mount="ground")
    return {
        sid: (float(p[0]), float(p[1]), float(p[2]))
        for sid, p in zip(movers["sensor_id"].to_list(), pts, strict=True)
    }


def building_quantities(by_quantity: pl.DataFrame, ids: list[str]) -> dict[str, dict[str, float]]:
    """Latest value of every quantity a bound sensor reports, for its building.

    The marker shows the newest reading; the building carries one
    ``coptwin:<quantity>`` per quantity (a logger reporting temperature and
    humidity sets both).
    """
    if not ids or by_quantity.height == 0:
        return {}
    sub = by_quantity.filter(
        pl.col("sensor_id").is_in(pl.Series(ids, dtype=pl.Utf8).implode())
        & pl.col("value").is_not_null()
        & (pl.col("quantity").fill_null("") != "")
    )
    out: dict[str, dict[str, float]] = {}
    for sid, qty, value in sub.select("sensor_id", "quantity", "value").iter_rows():
        out.setdefault(sid, {})[qty] = value
    return out


def marker_batch(
    judged: Judged, state: LatestState, facts: SensorFacts, positions: Mapping[str, Position]
) -> MarkerBatch:
    """Step 4: the overlay's input for the judged rows: status and colour, the latest
    reading, the sensor's facts, where sensors moved to (``positions``: moved or newly
    placed ones; others keep their marker where it is) and, for bound sensors, every
    quantity for their building."""
    rows = judged.rows
    idx = rows["idx"].to_numpy()
    ids = rows["sensor_id"].to_list()
    latest = state.latest_at(idx)
    reading_unit = latest["unit"].fill_null("").to_numpy().astype(object)
    bound_prims = facts.bound_prim[idx]
    return MarkerBatch(
        sensor_ids=ids,
        layers=facts.layer[idx].tolist(),
        kinds=facts.kind[idx].tolist(),
        colors=colour(rows["status"]),
        statuses=rows["status"].to_list(),
        values=latest["value"].to_list(),
        units=np.where(reading_unit != "", reading_unit, facts.unit[idx]).tolist(),
        ts=latest["ts"].to_list(),
        quantities=latest["quantity"].fill_null("").to_list(),
        placements=facts.placement[idx].tolist(),
        bound_prims=bound_prims.tolist(),
        positions=dict(positions),
        building_attrs=building_quantities(
            judged.by_quantity, rows["sensor_id"].filter(pl.Series(bound_prims != "")).to_list()
        ),
    )
