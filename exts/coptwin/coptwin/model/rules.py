"""Status rules: latest readings -> ``ok | warn | alarm | stale | offline | unknown``.

One rule per sensor kind (``config.rules``), with numeric thresholds
overridable per sensor from the sensors table.  Evaluation is one lazy polars
query over all sensors (or only the given ids), so a sweep over 100k sensors
for ageing (stale/offline) costs milliseconds, not a Python loop.  Every status
comes with the rule that decided it and that rule's numbers, which
:func:`coptwin.model.reasons.reason` puts in words (``value 31.2 °C above alarm_high 30``)
for the panel's detail view.

Order of precedence for a sensor:

1. no reading (of the rule's quantity, if it names one) -> ``unknown``;
2. age of that reading > ``offline_after_s`` -> ``offline``; > ``stale_after_s`` -> ``stale``;
3. event rule (``active_for_s``): a non-zero (or value-less) reading within the
   window -> ``warn`` (active), otherwise ``idle_status``;
4. categorical ``states``: the value rendered as text (1.0 -> "1") -> its status;
5. numeric thresholds (inclusive: ``value >= alarm_high`` or ``<= alarm_low``
   -> ``alarm``, same for warn); a reading without a value -> ``unknown``;
6. a categorical value not listed in ``states`` (and no thresholds) -> ``unknown``;
7. otherwise ``ok``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import polars as pl

from coptwin.config import STATUSES, Config
from coptwin.model.registry import THRESHOLD_COLUMNS, SensorRegistry
from coptwin.model.state import NO_TS, as_utc

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)

__all__ = [
    "REASON_COLUMNS",
    "STATUSES",
    "evaluate",
    "evaluate_at",
    "rule_frame",
    "rule_quantities",
]


def rule_frame(registry: SensorRegistry, config: Config) -> pl.DataFrame:
    """One row per sensor, in registry order: its kind's rule with per-sensor
    threshold overrides."""
    return _rules_cached(registry, config)[0]


def _rules_cached(registry: SensorRegistry, config: Config) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rule frame, states frame), cached on the registry per config object
    (both are immutable, and a sweep runs every tick)."""
    cached = getattr(registry, "_rule_frame_cache", None)
    if cached is not None and cached[0] is config:
        return cached[1], cached[2]
    frame = _build_rule_frame(registry, config)
    states = _states_frame(config, frame["kind"].unique().to_list())
    registry._rule_frame_cache = (config, frame, states)  # type: ignore[attr-defined]
    return frame, states


def _build_rule_frame(registry: SensorRegistry, config: Config) -> pl.DataFrame:
    sensors = registry.frame.select(
        "sensor_id", "idx", "kind", pl.col("unit").alias("s_unit"), *THRESHOLD_COLUMNS
    )
    kinds = sensors["kind"].unique().to_list()
    rules = [config.rule_for(k) for k in kinds]
    per_kind = pl.DataFrame(
        {
            "kind": kinds,
            "r_quantity": [r.quantity for r in rules],
            **{f"r_{c}": [getattr(r, c) for r in rules] for c in THRESHOLD_COLUMNS},
            "active_for_s": [r.active_for_s for r in rules],
            "idle_status": [r.idle_status for r in rules],
            "stale_after_s": [r.stale_after_s for r in rules],
            "offline_after_s": [r.offline_after_s for r in rules],
            "has_states": [bool(r.states) for r in rules],
        },
        schema={
            "kind": pl.Utf8,
            "r_quantity": pl.Utf8,
            **{f"r_{c}": pl.Float64 for c in THRESHOLD_COLUMNS},
            "active_for_s": pl.Float64,
            "idle_status": pl.Utf8,
            "stale_after_s": pl.Float64,
            "offline_after_s": pl.Float64,
            "has_states": pl.Boolean,
        },
    )
    frame = (
        sensors.join(per_kind, on="kind", how="left", maintain_order="left")
        .with_columns(pl.coalesce(c, f"r_{c}").alias(c) for c in THRESHOLD_COLUMNS)
        .drop(f"r_{c}" for c in THRESHOLD_COLUMNS)
        .with_columns(
            pl.any_horizontal(pl.col(c).is_not_null() for c in THRESHOLD_COLUMNS).alias(
                "has_thresholds"
            )
        )
    )
    return frame


def _states_frame(config: Config, kinds: Iterable[str]) -> pl.DataFrame:
    rows = [
        (kind, text, status)
        for kind in kinds
        for text, status in config.rule_for(kind).states.items()
    ]
    return pl.DataFrame(
        rows, schema={"kind": pl.Utf8, "_text": pl.Utf8, "state_status": pl.Utf8}, orient="row"
    )


def _value_text(value: pl.Expr) -> pl.Expr:
    """1.0 -> "1", 2.5 -> "2.5": how categorical values are written in config."""
    integral = value.is_finite() & (value == value.round(0)) & (value.abs() < 2**53)
    return (
        pl.when(integral)
        .then(value.cast(pl.Int64, strict=False).cast(pl.Utf8))
        .otherwise(value.cast(pl.Utf8))
    )


def evaluate(
    latest: pl.DataFrame,
    registry: SensorRegistry,
    config: Config,
    now: datetime,
    *,
    ids: Iterable[str] | None = None,
    by_quantity: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``sensor_id, idx, status`` and the reason's inputs (:data:`REASON_COLUMNS`) of
    every registry sensor (or only ``ids``), in registry order; ``idx`` is the
    sensor's registry position.  :func:`reason` puts a row's reason in words.

    ``latest`` needs ``sensor_id, ts, value`` and, for rules that name a
    quantity, ``quantity`` (``unit`` is used in reasons when present); it may hold
    several rows per sensor (e.g. ``LatestState.latest_by_quantity``), in which
    case the newest row of the rule's quantity drives the status.  ``by_quantity``
    adds such rows to ``latest``.  Readings of sensors not in the registry are
    ignored.
    """
    frame, states = _rules_cached(registry, config)
    rf = frame.lazy()
    cand = _candidates(latest, by_quantity)
    if ids is not None:
        wanted = pl.Series("sensor_id", list(ids), dtype=pl.Utf8)
        rf = rf.filter(pl.col("sensor_id").is_in(wanted.implode()))
        cand = cand.filter(pl.col("sensor_id").is_in(wanted.implode()))
    if by_quantity is None and frame["r_quantity"].null_count() == frame.height:
        driving = cand.select("sensor_id", "ts", "value", "unit")  # one row per sensor already
    else:
        driving = (
            cand.join(rf.select("sensor_id", "r_quantity"), on="sensor_id", how="inner")
            .filter(pl.col("r_quantity").is_null() | (pl.col("quantity") == pl.col("r_quantity")))
            .sort("ts")
            .group_by("sensor_id")
            .agg(pl.col("ts", "value", "unit").last())
        )
    now_lit = pl.lit(as_utc(now)).dt.cast_time_unit("us")
    df = rf.join(driving, on="sensor_id", how="left", maintain_order="left").with_columns(
        ((now_lit - pl.col("ts")).dt.total_microseconds() / 1e6).alias("age_s")
    )
    return _judge(df, states).collect()


def evaluate_at(
    registry: SensorRegistry,
    config: Config,
    now: datetime,
    idx: np.ndarray,
    ts_us: np.ndarray,
    value: np.ndarray,
    unit: pl.Series,
) -> pl.DataFrame:
    """:func:`evaluate` for registry sensors ``idx`` whose driving readings are given as
    arrays (the engine's path: ``LatestState.driving_at``): ``ts_us`` in µs since the
    epoch (``NO_TS``: no reading), ``value`` (NaN: none) and ``unit`` (text or null).
    Same rows and columns as :func:`evaluate`, in the order of ``idx``; no join."""
    frame, states = _rules_cached(registry, config)
    none = ts_us == NO_TS
    now_us = (as_utc(now) - _EPOCH) // _US
    age = np.where(none, np.nan, (now_us - ts_us) / 1e6)
    ts = pl.Series("ts", np.where(none, 0, ts_us), dtype=pl.Int64)
    df = frame[idx].with_columns(
        ts.cast(pl.Datetime("us", "UTC")).scatter(np.flatnonzero(none), None),
        pl.Series("value", value, dtype=pl.Float64).fill_nan(None),
        unit.alias("unit").fill_null(""),
        pl.Series("age_s", age, dtype=pl.Float64).fill_nan(None),
    )
    return _judge(df, states)


def rule_quantities(registry: SensorRegistry, config: Config) -> np.ndarray:
    """Per registry sensor, the quantity its rule reads (None: its newest reading)."""
    return _rules_cached(registry, config)[0]["r_quantity"].to_numpy()


def _judge(df: pl.DataFrame | pl.LazyFrame, states: pl.DataFrame) -> Any:
    """Rule rows joined with their driving ``ts, value, unit`` and its ``age_s`` ->
    ``sensor_id, idx, status`` and the reason columns (the one place the rules are
    applied); eager or lazy as ``df`` is."""
    if states.height:
        df = df.with_columns(_value_text(pl.col("value")).alias("_text")).join(
            states.lazy() if isinstance(df, pl.LazyFrame) else states,
            on=["kind", "_text"],
            how="left",
            maintain_order="left",
        )
    else:
        df = df.with_columns(
            pl.lit(None, pl.Utf8).alias("_text"), pl.lit(None, pl.Utf8).alias("state_status")
        )
    return df.select("sensor_id", "idx", *_verdict())


def _candidates(latest: pl.DataFrame, by_quantity: pl.DataFrame | None) -> pl.LazyFrame:
    def pick(df: pl.DataFrame) -> pl.LazyFrame:
        def text(name: str) -> pl.Expr:
            col = pl.col(name) if name in df.columns else pl.lit(None, pl.Utf8)
            return col.fill_null("").cast(pl.Utf8).alias(name)

        return df.lazy().select(
            pl.col("sensor_id").cast(pl.Utf8),
            pl.col("ts"),
            pl.col("value").cast(pl.Float64),
            text("quantity"),
            text("unit"),
        )

    frames = [pick(latest)]
    if by_quantity is not None:
        frames.append(pick(by_quantity))
    return pl.concat(frames, how="vertical")


#: What :func:`evaluate` returns besides the status so a reason can be put in words
#: later: the deciding rule, the driving reading (value, unit, ts) and the value as a
#: state; the rule's limits come from the sensor's :func:`rule_frame` row.
REASON_COLUMNS = ("rule", "value", "unit", "ts", "state")


def _decisions() -> list[tuple[pl.Expr, str | pl.Expr, str]]:
    """(condition, status, rule) in order of precedence (see the module docstring)."""
    age, value = pl.col("age_s"), pl.col("value")
    offline = pl.col("offline_after_s").is_not_null() & (age > pl.col("offline_after_s"))
    stale = pl.col("stale_after_s").is_not_null() & (age > pl.col("stale_after_s"))
    is_event = pl.col("active_for_s").is_not_null()
    active = (age <= pl.col("active_for_s")) & (value.is_null() | (value != 0))
    has_thr = pl.col("has_thresholds")

    def over(col: str) -> pl.Expr:
        return pl.col(col).is_not_null() & (value >= pl.col(col))

    def under(col: str) -> pl.Expr:
        return pl.col(col).is_not_null() & (value <= pl.col(col))

    return [
        (pl.col("ts").is_null(), "unknown", "no_reading"),
        (offline, "offline", "offline"),
        (stale, "stale", "stale"),
        (is_event & active, "warn", "active"),
        (is_event, pl.col("idle_status"), "idle"),
        (pl.col("state_status").is_not_null(), pl.col("state_status"), "state"),
        (has_thr & value.is_null(), "unknown", "no_value"),
        (over("alarm_high"), "alarm", "alarm_high"),
        (under("alarm_low"), "alarm", "alarm_low"),
        (over("warn_high"), "warn", "warn_high"),
        (under("warn_low"), "warn", "warn_low"),
        (pl.col("has_states") & ~has_thr, "unknown", "unexpected_state"),
    ]


@functools.cache
def _verdict() -> tuple[pl.Expr, ...]:
    """``status`` and :data:`REASON_COLUMNS` as expressions (built once).

    Only the deciding rule and its numbers are computed per tick; the words come
    when someone reads them (formatting text for every evaluated sensor cost
    more than the rules themselves).
    """
    status: pl.Expr | None = None
    rule: pl.Expr | None = None
    for cond, st, name in _decisions():
        st_expr = pl.lit(st) if isinstance(st, str) else st
        status = (pl.when(cond) if status is None else status.when(cond)).then(st_expr)
        rule = (pl.when(cond) if rule is None else rule.when(cond)).then(pl.lit(name))
    assert status is not None and rule is not None
    rule = rule.otherwise(
        pl.when(pl.col("has_thresholds"))
        .then(pl.lit("within_limits"))
        .otherwise(pl.lit("reporting"))
    )
    return (
        status.otherwise(pl.lit("ok")).alias("status"),
        rule.alias("rule"),
        pl.col("value"),
        pl.coalesce(pl.when(pl.col("unit") != "").then(pl.col("unit")), pl.col("s_unit")).alias(
            "unit"
        ),
        pl.col("ts"),
        pl.col("_text").alias("state"),
    )
