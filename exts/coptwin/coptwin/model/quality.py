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
without these keys costs one check, and with them the rows written follow the rows
revised.  :func:`rule_frame` is the rules' frame with the keys added, and
:func:`coptwin.model.reasons.reason` puts the new rules in words when someone reads them
(the measured numbers travel as :data:`DETAIL_COLUMNS`, never as text made every tick).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from coptwin.config import Config
from coptwin.model import rules
from coptwin.model.registry import THRESHOLD_COLUMNS, SensorRegistry
from coptwin.model.state import NO_TS, LatestState

__all__ = ["DETAIL_COLUMNS", "QUALITY_KEYS", "apply", "rule_frame"]

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

#: The measured numbers of a rate or flat-line hit, beside the rules' reason columns:
#: the change and the seconds it took, or the readings in the flat run and its span.
DETAIL_COLUMNS: tuple[str, str] = ("measured", "over_s")

#: Verdicts of the thresholds on a numeric reading: what the checks here may revise.
_JUDGED = ("alarm_high", "alarm_low", "warn_high", "warn_low", "within_limits", "reporting")


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
    names: Sequence[str],
    state: LatestState,
    config: Config,
) -> pl.DataFrame:
    """``judged`` (:func:`coptwin.model.rules.evaluate` rows) with the data-quality
    checks and the deadband applied; ``shown``: each registry sensor's status so far
    as a code into ``names`` (hysteresis starts from it).  Rows a check revises get
    their new ``status`` and ``rule`` and, for rate and flat line, the measured numbers
    (:data:`DETAIL_COLUMNS`); only those rows are written, and nothing is put in words."""
    _, p, active = _cached(state.registry, config)
    if not active or judged.height == 0:
        return judged
    n = judged.height
    idx = judged["idx"].to_numpy()
    value = judged["value"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    judged_rows = judged["rule"].is_in(_JUDGED).to_numpy() & np.isfinite(value)
    below = judged_rows & (value < p["valid_min"][idx])  # NaN limits compare False
    above = judged_rows & (value > p["valid_max"][idx])
    rule = np.full(n, None, dtype=object)  # the revised rule; None: as judged
    rule[below], rule[above] = "below_valid_min", "above_valid_max"
    suspect = below | above
    measured, over_s = np.full(n, np.nan), np.full(n, np.nan)
    wants = judged_rows & ~suspect
    wants &= ~np.isnan(p["max_rate_per_s"][idx]) | ~(
        np.isnan(p["flat_line_count"][idx]) & np.isnan(p["flat_line_s"][idx])
    )
    if wants.any():
        at = np.flatnonzero(wants)
        ts, val = state.recent(idx[at], p["r_quantity"][idx[at]])
        for name, hit, m, s in (_rate(ts, val, p, idx[at]), _flat(ts, val, p, idx[at])):
            first = hit & ~suspect[at]
            new = at[first]
            suspect[new], rule[new] = True, name
            measured[new], over_s[new] = m[first], s[first]
    status = np.full(n, None, dtype=object)
    status[suspect] = SUSPECT
    _deadband(judged, status, rule, value, (shown, names), p, idx, judged_rows & ~suspect)
    rows = np.flatnonzero(rule != None)  # noqa: E711 - elementwise on objects
    if not rows.size:
        return judged
    return judged.with_columns(
        _scattered(judged["status"], rows, status[rows]),
        _scattered(judged["rule"], rows, rule[rows]),
        pl.Series(DETAIL_COLUMNS[0], measured).fill_nan(None),
        pl.Series(DETAIL_COLUMNS[1], over_s).fill_nan(None),
    )


def _scattered(column: pl.Series, rows: np.ndarray, texts: np.ndarray) -> pl.Series:
    """``column`` with ``texts`` at ``rows`` (cost follows the rows)."""
    return column.clone().scatter(rows, pl.Series(texts.tolist(), dtype=pl.Utf8))


def _rate(
    ts: np.ndarray, val: np.ndarray, p: Mapping[str, np.ndarray], idx: np.ndarray
) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """The latest two readings' change per second above ``max_rate_per_s``: the hits,
    the change and the seconds it took."""
    limit = p["max_rate_per_s"][idx]
    t1, t0 = ts[:, -1], ts[:, -2] if ts.shape[1] > 1 else ts[:, -1]
    v1, v0 = val[:, -1], val[:, -2] if val.shape[1] > 1 else val[:, -1]
    dt = np.where((t0 != NO_TS) & (t1 > t0), (t1 - t0) / 1e6, np.nan)
    with np.errstate(invalid="ignore"):
        hit = np.abs(v1 - v0) / dt > limit
    return "rate", hit, v1 - v0, dt


def _flat(
    ts: np.ndarray, val: np.ndarray, p: Mapping[str, np.ndarray], idx: np.ndarray
) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """The same value for ``flat_line_count`` readings or ``flat_line_s`` seconds: the
    hits, the readings in the run and the seconds it spans."""
    size = ts.shape[1]
    same = (val == val[:, -1:]) & (ts != NO_TS)  # NaN equals nothing
    run = np.cumprod(same[:, ::-1], axis=1).sum(axis=1)  # the trailing run's length
    first = np.take_along_axis(ts, np.minimum(size - run, size - 1)[:, None], axis=1)[:, 0]
    span = np.where(run > 0, (ts[:, -1] - first) / 1e6, 0.0)
    count, seconds = p["flat_line_count"][idx], p["flat_line_s"][idx]
    with np.errstate(invalid="ignore"):
        hit = (run >= count) | ((run >= 2) & (span >= seconds))
    return "flat_line", hit, run.astype(np.float64), span


def _deadband(
    judged: pl.DataFrame,
    status: np.ndarray,
    rule: np.ndarray,
    value: np.ndarray,
    shown: tuple[np.ndarray, Sequence[str]],
    p: Mapping[str, np.ndarray],
    idx: np.ndarray,
    eligible: np.ndarray,
) -> None:
    """Keep alarm (warn) while the value is within ``deadband`` of the threshold it
    crossed (``shown``: the statuses so far, codes and their names); writes the held
    rows' ``status`` and ``rule`` (None elsewhere: as judged)."""
    e = np.flatnonzero(eligible & (p["deadband"][idx] > 0))
    if not e.size:
        return
    codes, names = shown
    before = np.asarray(names, dtype=object)[codes[idx[e]]]
    now = judged["status"].gather(e).to_numpy().astype(object)
    band, v, at = p["deadband"][idx[e]], value[e], idx[e]
    with np.errstate(invalid="ignore"):
        for level, lower in (("alarm", ("warn", "ok")), ("warn", ("ok",))):
            was = (before == "alarm") | ((before == "warn") & (level == "warn"))
            can = was & np.isin(now, lower)
            for side in ("high", "low"):
                limit = p[f"{level}_{side}"][at]
                inside = v > limit - band if side == "high" else v < limit + band
                hold = can & inside
                if hold.any():
                    now[hold] = status[e[hold]] = level
                    rule[e[hold]] = f"deadband_{level}_{side}"
                    can &= ~hold
