"""Data quality and hysteresis: a post-step over the status rules' verdicts.

:func:`coptwin.model.rules.evaluate` judges each sensor's newest reading against its
thresholds.  Some readings should not be judged that way, and some verdicts should
not flip back at the first reading across a threshold:

- **out of physical range** (``valid_min`` / ``valid_max``): the reading is bad data,
  never an alarm;
- **rate of change** (``max_rate_per_s``): the value moved faster between two
  consecutive readings than the quantity physically can (a spike, a swapped unit);
- **flat line** (``flat_line_count`` readings or ``flat_line_s`` seconds with the very
  same value): a stuck sensor or a frozen gateway;
- **deadband** (hysteresis): a sensor in alarm (warn) stays there until its value is
  back past the alarm (warn) threshold by ``deadband``, so a value wavering around a
  threshold keeps one status instead of flipping every reading.

The first three make the status ``suspect`` (one data-quality status; the reason says
which check and with what numbers); they apply to readings the thresholds judged
(not to stale, offline or unknown sensors, categorical states or events) and take
precedence over the thresholds, in the order above.  The deadband applies last, to
readings of good quality.  Keys are per rule kind (``[rules.<kind>]``).

:func:`apply` takes and returns :func:`~coptwin.model.rules.evaluate`'s frame
(``sensor_id, idx, status`` and :data:`~coptwin.model.rules.REASON_COLUMNS`), the
statuses shown so far (registry order) and the state's recent readings
(:meth:`coptwin.model.state.LatestState.recent`), vectorised with numpy; a config
without these keys costs one check.  :func:`rule_frame` is the rules' frame with the
keys added, and :func:`reason` puts the new rules in words (the ``state`` reason
column carries each check's measured detail).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from coptwin.config import Config
from coptwin.model import rules
from coptwin.model.registry import THRESHOLD_COLUMNS, SensorRegistry
from coptwin.model.state import LatestState

log = logging.getLogger(__name__)

__all__ = ["QUALITY_KEYS", "REASONS", "apply", "reason", "rule_frame"]

#: The rule keys this module reads, in the order of the frame's columns.
QUALITY_KEYS: tuple[str, ...] = (
    "deadband",
    "valid_min",
    "valid_max",
    "flat_line_count",
    "flat_line_s",
    "max_rate_per_s",
)
SUSPECT = "suspect"

#: Why a sensor has its status, for the rules added here ({detail}: the ``state``
#: column, the measured numbers).
REASONS: dict[str, str] = {
    "below_valid_min": "{value} below valid_min {valid_min} (bad data)",
    "above_valid_max": "{value} above valid_max {valid_max} (bad data)",
    "rate": "{value} changed by {detail} (max_rate_per_s {max_rate_per_s})",
    "flat_line": "{value} unchanged for {detail}",
    "deadband_alarm_high": "{value} within deadband {deadband} of alarm_high {alarm_high}",
    "deadband_alarm_low": "{value} within deadband {deadband} of alarm_low {alarm_low}",
    "deadband_warn_high": "{value} within deadband {deadband} of warn_high {warn_high}",
    "deadband_warn_low": "{value} within deadband {deadband} of warn_low {warn_low}",
}
#: Verdicts of the thresholds on a numeric reading: what the checks here may revise.
_JUDGED = ("alarm_high", "alarm_low", "warn_high", "warn_low", "within_limits", "reporting")
_NO_TS = np.iinfo(np.int64).min


def rule_frame(registry: SensorRegistry, config: Config) -> pl.DataFrame:
    """:func:`coptwin.model.rules.rule_frame` plus the :data:`QUALITY_KEYS` columns of
    each sensor's rule (registry order); cached on the registry per config."""
    return _cached(registry, config)[0]


def _cached(registry: SensorRegistry, config: Config) -> tuple[pl.DataFrame, dict, bool]:
    cached = getattr(registry, "_quality_cache", None)
    if cached is not None and cached[0] is config:
        return cached[1], cached[2], cached[3]
    base = rules.rule_frame(registry, config)
    kinds = base["kind"].unique().to_list()
    per_kind = pl.DataFrame(
        {
            "kind": kinds,
            **{k: [getattr(config.rule_for(kind), k) for kind in kinds] for k in QUALITY_KEYS},
        },
        schema={"kind": pl.Utf8, **dict.fromkeys(QUALITY_KEYS, pl.Float64)},
    )
    frame = base.join(per_kind, on="kind", how="left", maintain_order="left")
    columns = (*THRESHOLD_COLUMNS, *QUALITY_KEYS)
    arrays = {c: frame[c].fill_null(np.nan).to_numpy() for c in columns}
    arrays["r_quantity"] = frame["r_quantity"].to_numpy().astype(object)
    active = any(frame[k].null_count() < frame.height for k in QUALITY_KEYS)
    registry._quality_cache = (config, frame, arrays, active)  # type: ignore[attr-defined]
    return frame, arrays, active


def apply(
    judged: pl.DataFrame,
    shown: np.ndarray,
    state: LatestState,
    config: Config,
) -> pl.DataFrame:
    """``judged`` (:func:`coptwin.model.rules.evaluate` rows) with the data-quality
    checks and the deadband applied; ``shown``: each registry sensor's status so far
    (hysteresis starts from it)."""
    _, p, active = _cached(state.registry, config)
    if not active or judged.height == 0:
        return judged
    idx = judged["idx"].to_numpy()
    status = judged["status"].to_numpy().astype(object)
    rule = judged["rule"].to_numpy().astype(object)
    value = judged["value"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    detail = np.full(idx.size, None, dtype=object)
    judged_rows = np.isin(rule, _JUDGED) & np.isfinite(value)
    below = judged_rows & (value < p["valid_min"][idx])  # NaN limits compare False
    above = judged_rows & (value > p["valid_max"][idx])
    rule[below], rule[above] = "below_valid_min", "above_valid_max"
    suspect = below | above
    wants = judged_rows & ~suspect
    wants &= ~np.isnan(p["max_rate_per_s"][idx]) | ~(
        np.isnan(p["flat_line_count"][idx]) & np.isnan(p["flat_line_s"][idx])
    )
    if wants.any():
        at = np.flatnonzero(wants)
        ts, val = state.recent(idx[at], p["r_quantity"][idx[at]])
        for name, hit, text in (_rate(ts, val, p, idx[at]), _flat(ts, val, p, idx[at])):
            new = at[hit & ~suspect[at]]
            suspect[new], rule[new], detail[new] = True, name, text[hit & ~suspect[at]]
    status[suspect] = SUSPECT
    held = _deadband(status, rule, value, shown[idx], p, idx, judged_rows & ~suspect)
    if not (suspect.any() or held):
        return judged
    return judged.with_columns(
        pl.Series("status", status, dtype=pl.Utf8),
        pl.Series("rule", rule, dtype=pl.Utf8),
        pl.when(pl.Series(detail, dtype=pl.Utf8).is_not_null())
        .then(pl.Series(detail, dtype=pl.Utf8))
        .otherwise(pl.col("state"))
        .alias("state"),
    )


def _rate(
    ts: np.ndarray, val: np.ndarray, p: Mapping[str, np.ndarray], idx: np.ndarray
) -> tuple[str, np.ndarray, np.ndarray]:
    """The latest two readings' change per second above ``max_rate_per_s``."""
    limit = p["max_rate_per_s"][idx]
    t1, t0 = ts[:, -1], ts[:, -2] if ts.shape[1] > 1 else ts[:, -1]
    v1, v0 = val[:, -1], val[:, -2] if val.shape[1] > 1 else val[:, -1]
    dt = np.where((t0 != _NO_TS) & (t1 > t0), (t1 - t0) / 1e6, np.nan)
    with np.errstate(invalid="ignore"):
        hit = np.abs(v1 - v0) / dt > limit
    text = np.full(idx.size, None, dtype=object)
    for i in np.flatnonzero(hit):
        text[i] = f"{_num(v1[i] - v0[i], signed=True)} in {_num(dt[i])} s"
    return "rate", hit, text


def _flat(
    ts: np.ndarray, val: np.ndarray, p: Mapping[str, np.ndarray], idx: np.ndarray
) -> tuple[str, np.ndarray, np.ndarray]:
    """The same value for ``flat_line_count`` readings or ``flat_line_s`` seconds."""
    size = ts.shape[1]
    same = (val == val[:, -1:]) & (ts != _NO_TS)  # NaN equals nothing
    run = np.cumprod(same[:, ::-1], axis=1).sum(axis=1)  # the trailing run's length
    first = np.take_along_axis(ts, np.minimum(size - run, size - 1)[:, None], axis=1)[:, 0]
    span = np.where(run > 0, (ts[:, -1] - first) / 1e6, 0.0)
    count, seconds = p["flat_line_count"][idx], p["flat_line_s"][idx]
    with np.errstate(invalid="ignore"):
        hit = (run >= count) | ((run >= 2) & (span >= seconds))
    text = np.full(idx.size, None, dtype=object)
    for i in np.flatnonzero(hit):
        text[i] = f"{int(run[i])} readings over {_num(span[i])} s"
    return "flat_line", hit, text


def _deadband(
    status: np.ndarray,
    rule: np.ndarray,
    value: np.ndarray,
    before: np.ndarray,
    p: Mapping[str, np.ndarray],
    idx: np.ndarray,
    eligible: np.ndarray,
) -> bool:
    """Keep alarm (warn) while the value is within ``deadband`` of the threshold it
    crossed; edits ``status`` and ``rule`` in place, True when it held any."""
    band = p["deadband"][idx]
    eligible = eligible & (band > 0)
    if not eligible.any():
        return False
    held = False
    with np.errstate(invalid="ignore"):
        for level, lower in (("alarm", ("warn", "ok")), ("warn", ("ok",))):
            was = (before == "alarm") | ((before == "warn") & (level == "warn"))
            can = eligible & was & np.isin(status, lower)
            for side in ("high", "low"):
                limit = p[f"{level}_{side}"][idx]
                inside = value > limit - band if side == "high" else value < limit + band
                hold = can & inside
                if hold.any():
                    status[hold], rule[hold] = level, f"deadband_{level}_{side}"
                    can &= ~hold
                    held = True
    return held


def _num(value: float | None, signed: bool = False) -> str:
    """Six significant digits, as reasons show numbers ("30", "31.25", "+12.5")."""
    if value is None or not np.isfinite(value):
        return "?"
    return f"{value:+g}" if signed else f"{value:g}"


def reason(
    rule: str,
    value: float | None = None,
    unit: str | None = None,
    ts: datetime | None = None,
    state: str | None = None,
    limits: Mapping[str, Any] | None = None,
) -> str:
    """:func:`coptwin.model.rules.reason`, knowing the rules added here too."""
    template = REASONS.get(rule)
    if template is None:
        return rules.reason(rule, value, unit, ts, state, limits)
    limits = limits or {}
    numbers = {k: _num(limits.get(k)) for k in (*QUALITY_KEYS, *THRESHOLD_COLUMNS)}
    return template.format(
        value=f"value {_num(value)}" + (f" {unit}" if unit else ""),
        detail=state or "?",
        **numbers,
    )
