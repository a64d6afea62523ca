"""Short human texts for ages, times and numbers, shared by every view-model.

One place decides how the panel writes "5 min ago" or "21.5 °C" so the status
line, the sensors table and the detail area never disagree.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

#: Shown where a value is missing (event sensors, never-reported sensors).
MISSING = "—"


def as_utc(when: datetime) -> datetime:
    """Treat naive datetimes as UTC (the Delta tables store UTC timestamps)."""
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when


def age_seconds(when: datetime | None, now: datetime) -> float | None:
    """Seconds from ``when`` to ``now``; None when ``when`` is unknown."""
    if when is None:
        return None
    return (as_utc(now) - as_utc(when)).total_seconds()


def format_age(seconds: float | None) -> str:
    """'just now', '12 s ago', '5 min ago', '3 h ago', '2 d ago'; future times say so."""
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    if seconds < -1.0:
        return f"in {format_duration(-seconds)} (clock skew?)"
    if seconds < 2.0:
        return "just now"
    return f"{format_duration(seconds)} ago"


def format_age_coarse(seconds: float | None) -> str:
    """:func:`format_age` in steps a 10,000-row table can afford to repaint.

    Under a minute reads "< 1 min ago" rather than ticking every second, so a
    row's age text changes about once a minute for its first hour (then hourly),
    not at every panel refresh; the detail view keeps the exact age.
    """
    if seconds is not None and math.isfinite(seconds) and 2.0 <= seconds < 60.0:
        return "< 1 min ago"
    return format_age(seconds)


def format_duration(seconds: float) -> str:
    """A positive duration in the largest unit that keeps it readable."""
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def format_time(when: datetime | None) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM:SS UTC' (one zone everywhere avoids confusion)."""
    if when is None:
        return MISSING
    return as_utc(when).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_number(value: float | None) -> str:
    """Up to six significant digits; NaN/inf are shown, not hidden."""
    if value is None:
        return MISSING
    if not math.isfinite(value):
        return str(value)
    return f"{value:.6g}"


def format_value(value: float | None, unit: str = "") -> str:
    """A reading with its unit, e.g. '21.5 °C'; a missing value is a dash."""
    text = format_number(value)
    return f"{text} {unit}" if unit and value is not None else text
