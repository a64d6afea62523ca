"""Why a sensor has its status, in words: one template per deciding rule.

:func:`coptwin.model.rules.evaluate` and :func:`coptwin.model.quality.apply` keep only
the deciding rule and its numbers (:data:`coptwin.model.rules.REASON_COLUMNS`, then the
quality checks' :data:`coptwin.model.quality.DETAIL_COLUMNS`); :func:`reason` puts them
in words when someone reads them (the panel's detail view, the page, the report, an
alarm), e.g. "value 31.2 °C above alarm_high 30". Formatting text for every evaluated
sensor of every tick cost more than the rules themselves.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from coptwin.model.registry import THRESHOLD_COLUMNS
from coptwin.model.state import as_utc

__all__ = ["REASONS", "reason"]

#: Per deciding rule: the status rules' (coptwin.model.rules) first, then the data-quality
#: checks' (coptwin.model.quality). ``{limit}`` is the column the rule compares with
#: (:data:`_LIMITS`); any other ``{name}`` is that rule key of the sensor's rule row.
REASONS: dict[str, str] = {
    "no_reading": "no reading{quantity} yet",
    "offline": "no reading since {ts} (offline after {limit} s)",
    "stale": "no reading since {ts} (stale after {limit} s)",
    "active": "event at {ts} (active for {limit} s)",
    "idle": "no event since {ts} (active for {limit} s)",
    "state": "state {state}",
    "no_value": "reading without a value",
    "alarm_high": "{value} {side} alarm_high {limit}",
    "alarm_low": "{value} {side} alarm_low {limit}",
    "warn_high": "{value} {side} warn_high {limit}",
    "warn_low": "{value} {side} warn_low {limit}",
    "unexpected_state": "unexpected state {state}",
    "within_limits": "{value} within limits",
    "reporting": "reporting",
    "below_valid_min": "{value} below valid_min {valid_min} (bad data)",
    "above_valid_max": "{value} above valid_max {valid_max} (bad data)",
    "rate": "{value} changed by {change} in {over_s} s (max_rate_per_s {max_rate_per_s})",
    "flat_line": "{value} unchanged for {count} readings over {over_s} s",
    "deadband_alarm_high": "{value} within deadband {deadband} of alarm_high {alarm_high}",
    "deadband_alarm_low": "{value} within deadband {deadband} of alarm_low {alarm_low}",
    "deadband_warn_high": "{value} within deadband {deadband} of warn_high {warn_high}",
    "deadband_warn_low": "{value} within deadband {deadband} of warn_low {warn_low}",
}
#: The column each rule compares with (the {limit} of its reason).
_LIMITS = {
    "offline": "offline_after_s",
    "stale": "stale_after_s",
    "active": "active_for_s",
    "idle": "active_for_s",
    **{c: c for c in THRESHOLD_COLUMNS},
}


def _number(value: Any, signed: bool = False) -> str:
    """30.0 -> "30", 31.25 -> "31.25": six significant digits, the way the panel writes
    a value (``coptwin.ui.format.format_number``), so a reason and its row agree; "?"
    for a number that is not there."""
    if not isinstance(value, numbers.Real) or not math.isfinite(value):
        return "?"
    return f"{value:+.6g}" if signed else f"{value:.6g}"


class _Limits(dict):
    """A rule row's numbers as text; a key the row lacks reads "?"."""

    def __init__(self, limits: Mapping[str, Any]) -> None:
        super().__init__((k, _number(v)) for k, v in limits.items())

    def __missing__(self, key: str) -> str:
        return "?"


def reason(
    rule: str,
    value: float | None = None,
    unit: str | None = None,
    ts: datetime | None = None,
    state: str | None = None,
    measured: float | None = None,
    over_s: float | None = None,
    limits: Mapping[str, Any] | None = None,
) -> str:
    """Why a sensor has its status, from the reason and detail columns of its verdict
    and its rule row (``limits``); "" for a rule without words."""
    template = REASONS.get(rule)
    if template is None:
        return ""
    limits = limits or {}
    fields = _Limits(limits)
    limit = limits.get(_LIMITS[rule]) if rule in _LIMITS else None
    at = value is not None and limit is not None and value == limit
    quantity = limits.get("r_quantity")
    fields.update(
        value=f"value {_number(value)}" + (f" {unit}" if unit else ""),
        side="at" if at else ("above" if rule.endswith("_high") else "below"),
        limit=_number(limit),
        ts=as_utc(ts).strftime("%Y-%m-%d %H:%M:%S UTC") if ts is not None else "?",
        state=state if state is not None else "(none)",
        quantity=f" of {quantity}" if quantity else "",
        change=_number(measured, signed=True),
        count="?" if measured is None else str(int(measured)),
        over_s=_number(over_s),
    )
    return template.format_map(fields)
