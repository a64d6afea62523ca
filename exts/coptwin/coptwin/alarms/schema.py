"""The alarms table's columns (canonical names and types).

A config may map the canonical names (:data:`coptwin.config.CANONICAL_COLUMNS`
``["alarms"]``) onto its own (``[tables.alarms.columns]``); :data:`EVENT_SCHEMA`
does the crossing.  ``ts`` and ``until`` are UTC timestamps in microseconds.
"""

from __future__ import annotations

import polars as pl

from coptwin.config import CANONICAL_COLUMNS
from coptwin.eventlog.schema import EventSchema
from coptwin.model.columns import DTYPES

COLUMNS: tuple[str, ...] = CANONICAL_COLUMNS["alarms"]

#: Canonical schema (:data:`coptwin.model.columns.DTYPES`).
SCHEMA: dict[str, pl.DataType] = DTYPES["alarms"]

assert tuple(SCHEMA) == COLUMNS, "alarms schema and CANONICAL_COLUMNS disagree"

EVENT_SCHEMA = EventSchema("alarms", SCHEMA)
