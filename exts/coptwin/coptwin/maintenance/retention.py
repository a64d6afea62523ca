"""Retention periods: how long removed files and log entries must stay readable.

VACUUM deletes data files that compaction removed once they are older than the
retention; time travel (``coptwin run --as-of``) and readers that opened an
older version need those files, so the retention never goes below Delta's own
default of 7 days, nor below the table's ``delta.deletedFileRetentionDuration``.
"""

from __future__ import annotations

import re
from typing import Any

#: Floor for VACUUM retention: Delta's default, and what time travel is promised.
MIN_RETENTION_HOURS = 168
#: Delta's default ``delta.logRetentionDuration`` (30 days).
DEFAULT_LOG_RETENTION_HOURS = 720.0

_INTERVAL = re.compile(r"^\s*(?:interval\s+)?(\d+(?:\.\d+)?)\s*([a-z]+?)s?\s*$", re.IGNORECASE)
_UNIT_HOURS = {
    "microsecond": 1 / 3.6e9,
    "millisecond": 1 / 3.6e6,
    "second": 1 / 3600,
    "minute": 1 / 60,
    "hour": 1.0,
    "day": 24.0,
    "week": 168.0,
}


def parse_interval_hours(text: str | None) -> float | None:
    """``interval 7 days`` (Delta table property syntax) in hours; None if absent/unknown."""
    if not text:
        return None
    m = _INTERVAL.match(str(text))
    if not m or m.group(2).lower() not in _UNIT_HOURS:
        return None
    return float(m.group(1)) * _UNIT_HOURS[m.group(2).lower()]


def table_retention_hours(table: Any) -> tuple[float | None, float]:
    """(deletedFileRetentionDuration, logRetentionDuration) of a table, in hours."""
    conf = table.metadata().configuration or {}
    files = parse_interval_hours(conf.get("delta.deletedFileRetentionDuration"))
    logs = parse_interval_hours(conf.get("delta.logRetentionDuration"))
    return files, logs if logs is not None else DEFAULT_LOG_RETENTION_HOURS


def vacuum_retention(
    requested: int | None, table_files_hours: float | None, *, allow_short: bool = False
) -> int:
    """The VACUUM retention to use, in whole hours; refuses values that endanger readers.

    ``allow_short`` exists for tests that need VACUUM to delete something now; the
    command line never sets it.
    """
    floor = max(MIN_RETENTION_HOURS, int(-(-(table_files_hours or 0) // 1)))
    if requested is None:
        return floor
    if requested < 0:
        raise ValueError("retention hours must not be negative")
    if requested < floor and not allow_short:
        why = (
            f"the table's delta.deletedFileRetentionDuration ({table_files_hours:g} h)"
            if table_files_hours and table_files_hours > MIN_RETENTION_HOURS
            else f"{MIN_RETENTION_HOURS} h (7 days)"
        )
        raise ValueError(
            f"retention of {requested} h is below {why}: readers and time travel "
            "(coptwin run --as-of) need removed files that long"
        )
    return int(requested)
