"""The alarms table's columns (canonical names and types).

A config may map the canonical names (:data:`coptwin.config.CANONICAL_COLUMNS`
``["alarms"]``) onto its own (``[tables.alarms.columns]``); :data:`EVENT_SCHEMA`
does the crossing.  ``ts`` and ``until`` are UTC timestamps in microseconds.
"""

from __future__ import annotations

import polars as pl

from coptwin.config import CANONICAL_COLUMNS
from coptwin.eventlog.schema import EventSchema

COLUMNS: tuple[str, ...] = CANONICAL_COLUMNS["alarms"]

SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "alarm_id": pl.String(),
    "event": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "author": pl.String(),
    "sensor_id": pl.String(),
    "layer": pl.String(),
    "status": pl.String(),
    "value": pl.Float64(),
    "reason": pl.String(),
    "until": pl.Datetime("us", "UTC"),
}

assert tuple(SCHEMA) == COLUMNS, "alarms schema and CANONICAL_COLUMNS disagree"

EVENT_SCHEMA = EventSchema("alarms", SCHEMA)
