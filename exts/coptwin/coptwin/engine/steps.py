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
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

import numpy as np
import polars as pl

from coptwin.config import Config
from coptwin.engine.aging import AgingSchedule
from coptwin.geo.placement import Placer
from coptwin.model.palette import color_array
from coptwin.model.registry import SensorRegistry
from coptwin.model.rules import evaluate as evaluate_rules
from coptwin.model.rules import reason
from coptwin.model.state import ApplyResult, LatestState
from coptwin.scene.overlay import MarkerBatch

Position = tuple[float, float, float]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: What a marker needs of each sensor that does not change between ticks.
FACT_COLUMNS = ("sensor_id", "idx", "layer", "kind", "unit", "placement", "bound_prim")


def sensor_facts(registry: SensorRegistry, placed: pl.DataFrame) -> pl.DataFrame:
    """One row per registry sensor, in registry order: ``sensor_id, idx, layer, kind,
    unit, placement, bound_prim`` (placement "exact" and unbound when not placed)."""
    where = placed.select(
        "sensor_id",
        pl.col("placement").cast(pl.Utf8),
        pl.col("prim_path").fill_null("").cast(pl.Utf8).alias("bound_prim"),
    ).unique("sensor_id", keep="first")
    return (
        registry.frame.select("sensor_id", "idx", "layer", "kind", "unit")
        .join(where, on="sensor_id", how="left", maintain_order="left")
        .with_columns(
            pl.col("unit").fill_null(""),
            pl.col("placement").fill_null("exact"),
            pl.col("bound_prim").fill_null(""),
        )
        .select(FACT_COLUMNS)
    )


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
        #: the sensors' rules (:func:`coptwin.model.rules.rule_frame`, registry order)
        self.rules = rules if rules is not None else pl.DataFrame()
        n = self.rules.height
        self.status = np.full(n, "unknown", dtype=object)
        self._rule = np.full(n, "", dtype=object)
        self._value = np.full(n, np.nan)
        self._ts_us = np.full(n, np.nan)
        self._unit = np.full(n, None, dtype=object)
        self._state = np.full(n, None, dtype=object)
        #: reasons in words, None until asked for after a new verdict
        self._words = np.full(n, "", dtype=object)
        self.aging = AgingSchedule()

    def record(self, judged: pl.DataFrame, keep: Iterable[str]) -> pl.DataFrame:
        """Store ``judged`` verdicts (:func:`coptwin.model.rules.evaluate` rows); return
        the rows to redraw: those in ``keep`` and those whose status changed."""
        idx = judged["idx"].to_numpy()
        status = judged["status"].to_numpy()
        differs = self.status[idx] != status
        self.status[idx] = status
        self._rule[idx] = judged["rule"].to_numpy()
        self._value[idx] = judged["value"].to_numpy()
        self._ts_us[idx] = judged["ts"].dt.epoch("us").cast(pl.Float64).to_numpy()
        self._unit[idx] = judged["unit"].to_numpy()
        self._state[idx] = judged["state"].to_numpy()
        self._words[idx] = None
        if differs.all():
            return judged
        keep = pl.Series(list(keep), dtype=pl.Utf8)
        return judged.filter(pl.Series(differs) | pl.col("sensor_id").is_in(keep.implode()))

    def reason(self, i: int) -> str:
        """Why registry sensor ``i`` has its status, e.g. "value 31.2 °C above alarm_high 30"."""
        words = self._words[i]
        if words is None:
            ts = self._ts_us[i]
            words = self._words[i] = reason(
                self._rule[i],
                _number(self._value[i]),
                self._unit[i],
                None if np.isnan(ts) else _EPOCH + timedelta(microseconds=float(ts)),
                self._state[i],
                self.rules.row(i, named=True),
            )
        return words


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


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
    verdicts.aging.schedule(by_quantity, verdicts.rules, now)
    rows = verdicts.record(judged, changed)
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
    judged: Judged, state: LatestState, facts: pl.DataFrame, positions: Mapping[str, Position]
) -> MarkerBatch:
    """Step 4: the overlay's input for the judged rows: status and colour, the latest
    reading, the sensor's facts (``facts`` in registry order), where sensors moved to
    (``positions``: moved or newly placed ones; others keep their marker where it is)
    and, for bound sensors, every quantity for their building."""
    rows = judged.rows
    idx = rows["idx"]
    cols = pl.concat(
        [
            rows.select("sensor_id", "status"),
            facts.select("layer", "kind", "placement", "bound_prim", pl.col("unit").alias("u"))[
                idx
            ],
            state.latest_at(idx.to_numpy()).select("value", "ts", "quantity", "unit"),
        ],
        how="horizontal",
    ).with_columns(
        pl.coalesce(pl.when(pl.col("unit") != "").then(pl.col("unit")), pl.col("u")),
        pl.col("quantity").fill_null(""),
    )
    ids = cols["sensor_id"].to_list()
    bound = cols.filter(pl.col("bound_prim") != "")["sensor_id"].to_list()
    return MarkerBatch(
        sensor_ids=ids,
        layers=cols["layer"].to_list(),
        kinds=cols["kind"].to_list(),
        colors=colour(cols["status"]),
        statuses=cols["status"].to_list(),
        values=cols["value"].to_list(),
        units=cols["unit"].to_list(),
        ts=cols["ts"].to_list(),
        quantities=cols["quantity"].to_list(),
        placements=cols["placement"].to_list(),
        bound_prims=cols["bound_prim"].to_list(),
        positions=dict(positions),
        building_attrs=building_quantities(judged.by_quantity, bound),
    )
