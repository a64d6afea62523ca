"""Status rules: latest readings -> ``ok | warn | alarm | stale | offline | unknown``.

One rule per sensor kind (``config.rules``), with numeric thresholds
overridable per sensor from the sensors table.  Evaluation is one lazy polars
query over all sensors (or only the given ids), so a sweep over 100k sensors
for ageing (stale/offline) costs milliseconds, not a Python loop.

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

import logging
from collections.abc import Iterable
from datetime import datetime

import polars as pl

from coptwin.config import STATUSES, Config
from coptwin.model.registry import THRESHOLD_COLUMNS, SensorRegistry
from coptwin.model.state import as_utc

log = logging.getLogger(__name__)

__all__ = [
    "STATUSES",
    "evaluate",
    "evaluate_frame",
    "evaluate_ids",
    "rule_frame",
]


def rule_frame(registry: SensorRegistry, config: Config) -> pl.DataFrame:
    """One row per sensor: its kind's rule with per-sensor threshold overrides."""
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
    sensors = registry.frame.select("sensor_id", "kind", *THRESHOLD_COLUMNS)
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
        sensors.join(per_kind, on="kind", how="left")
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


def evaluate_frame(
    latest: pl.DataFrame,
    registry: SensorRegistry,
    config: Config,
    now: datetime,
    *,
    ids: Iterable[str] | None = None,
    by_quantity: pl.DataFrame | None = None,
    reasons: bool = True,
) -> pl.DataFrame:
    """``sensor_id, status, reason`` for every registry sensor (or only ``ids``).

    ``reasons=False`` leaves out the human ``reason`` (string formatting is
    most of the cost of a sweep).

    ``latest`` needs ``sensor_id, ts, value`` and, for rules that name a
    quantity, ``quantity``; it may hold several rows per sensor (e.g.
    ``LatestState.latest_by_quantity``), in which case the newest row of the
    rule's quantity drives the status.  ``by_quantity`` adds such rows to
    ``latest``.  Readings of sensors not in the registry are ignored.
    """
    frame, states = _rules_cached(registry, config)
    rf = frame.lazy()
    cand = _candidates(latest, by_quantity)
    if ids is not None:
        wanted = pl.Series("sensor_id", list(ids), dtype=pl.Utf8)
        rf = rf.filter(pl.col("sensor_id").is_in(wanted.implode()))
        cand = cand.filter(pl.col("sensor_id").is_in(wanted.implode()))
    if by_quantity is None and frame["r_quantity"].null_count() == frame.height:
        driving = cand.select("sensor_id", "ts", "value")  # one row per sensor already
    else:
        driving = (
            cand.join(rf.select("sensor_id", "r_quantity"), on="sensor_id", how="inner")
            .filter(pl.col("r_quantity").is_null() | (pl.col("quantity") == pl.col("r_quantity")))
            .sort("ts")
            .group_by("sensor_id")
            .agg(pl.col("ts", "value").last())
        )
    now_lit = pl.lit(as_utc(now)).dt.cast_time_unit("us")
    df = rf.join(driving, on="sensor_id", how="left", maintain_order="left").with_columns(
        ((now_lit - pl.col("ts")).dt.total_microseconds() / 1e6).alias("age_s")
    )
    if states.height:
        df = df.with_columns(_value_text(pl.col("value")).alias("_text")).join(
            states.lazy(), on=["kind", "_text"], how="left", maintain_order="left"
        )
    else:
        df = df.with_columns(
            pl.lit(None, pl.Utf8).alias("_text"), pl.lit(None, pl.Utf8).alias("state_status")
        )
    status, reason = _status_and_reason()
    return df.select("sensor_id", status, *([reason] if reasons else [])).collect()


def _candidates(latest: pl.DataFrame, by_quantity: pl.DataFrame | None) -> pl.LazyFrame:
    def pick(df: pl.DataFrame) -> pl.LazyFrame:
        quantity = pl.col("quantity") if "quantity" in df.columns else pl.lit(None, pl.Utf8)
        return df.lazy().select(
            pl.col("sensor_id").cast(pl.Utf8),
            pl.col("ts"),
            pl.col("value").cast(pl.Float64),
            quantity.fill_null("").cast(pl.Utf8).alias("quantity"),
        )

    frames = [pick(latest)]
    if by_quantity is not None:
        frames.append(pick(by_quantity))
    return pl.concat(frames, how="vertical")


def _status_and_reason() -> tuple[pl.Expr, pl.Expr]:
    age, value = pl.col("age_s"), pl.col("value")
    age_txt = age.round(0).cast(pl.Int64, strict=False).cast(pl.Utf8)
    q_txt = (
        pl.when(pl.col("r_quantity").is_not_null())
        .then(pl.concat_str(pl.lit(" of "), pl.col("r_quantity")))
        .otherwise(pl.lit(""))
    )
    offline = pl.col("offline_after_s").is_not_null() & (age > pl.col("offline_after_s"))
    stale = pl.col("stale_after_s").is_not_null() & (age > pl.col("stale_after_s"))
    is_event = pl.col("active_for_s").is_not_null()
    active = (age <= pl.col("active_for_s")) & (value.is_null() | (value != 0))
    has_thr = pl.col("has_thresholds")

    def over(col: str) -> pl.Expr:
        return pl.col(col).is_not_null() & (value >= pl.col(col))

    def under(col: str) -> pl.Expr:
        return pl.col(col).is_not_null() & (value <= pl.col(col))

    def fmt(template: str, *args: pl.Expr) -> pl.Expr:
        return pl.format(template, *args)

    branches: list[tuple[pl.Expr, str | pl.Expr, pl.Expr]] = [
        (pl.col("ts").is_null(), "unknown", fmt("no reading{} yet", q_txt)),
        (offline, "offline", fmt("no reading for {} s", age_txt)),
        (stale, "stale", fmt("no reading for {} s", age_txt)),
        (is_event & active, "warn", fmt("active: event {} s ago", age_txt)),
        (is_event, pl.col("idle_status"), fmt("idle: last event {} s ago", age_txt)),
        (
            pl.col("state_status").is_not_null(),
            pl.col("state_status"),
            fmt("state {}", pl.col("_text")),
        ),
        (has_thr & value.is_null(), "unknown", pl.lit("reading without a value")),
        (over("alarm_high"), "alarm", fmt("{} >= alarm {}", value, pl.col("alarm_high"))),
        (under("alarm_low"), "alarm", fmt("{} <= alarm {}", value, pl.col("alarm_low"))),
        (over("warn_high"), "warn", fmt("{} >= warn {}", value, pl.col("warn_high"))),
        (under("warn_low"), "warn", fmt("{} <= warn {}", value, pl.col("warn_low"))),
        (
            pl.col("has_states") & ~has_thr,
            "unknown",
            fmt("unexpected state {}", pl.col("_text").fill_null("(none)")),
        ),
    ]
    status: pl.Expr | None = None
    reason: pl.Expr | None = None
    for cond, st, why in branches:
        st_expr = pl.lit(st) if isinstance(st, str) else st
        status = (pl.when(cond) if status is None else status.when(cond)).then(st_expr)
        reason = (pl.when(cond) if reason is None else reason.when(cond)).then(why)
    assert status is not None and reason is not None
    ok_reason = pl.when(has_thr).then(fmt("{} within limits", value)).otherwise(pl.lit("reporting"))
    return status.otherwise(pl.lit("ok")).alias("status"), reason.otherwise(ok_reason).alias(
        "reason"
    )


def evaluate(
    latest: pl.DataFrame,
    registry: SensorRegistry,
    config: Config,
    now: datetime,
    *,
    ids: Iterable[str] | None = None,
    by_quantity: pl.DataFrame | None = None,
) -> dict[str, str]:
    """``{sensor_id: status}`` for every registry sensor (or only ``ids``).

    See :func:`evaluate_frame` for what ``latest`` and ``by_quantity`` may hold.
    """
    df = evaluate_frame(
        latest, registry, config, now, ids=ids, by_quantity=by_quantity, reasons=False
    )
    return dict(zip(df["sensor_id"].to_list(), df["status"].to_list(), strict=True))


def evaluate_ids(
    latest: pl.DataFrame,
    registry: SensorRegistry,
    config: Config,
    now: datetime,
    ids: Iterable[str],
    *,
    by_quantity: pl.DataFrame | None = None,
) -> dict[str, str]:
    """Statuses of the given sensors only (e.g. ``ApplyResult.changed``)."""
    return evaluate(latest, registry, config, now, ids=ids, by_quantity=by_quantity)
