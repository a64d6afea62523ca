"""The annotations table's columns: canonical schema and the user's column mapping.

The store writes and the fold reads canonical names
(:data:`coptwin.config.CANONICAL_COLUMNS` ``["annotations"]``); a config may
map them onto other names (``[tables.annotations.columns]``), so every frame
crosses :data:`EVENT_SCHEMA` (a :class:`coptwin.eventlog.EventSchema`) on its
way to or from Delta.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from coptwin.annotations.model import AnnotationEvent
from coptwin.config import CANONICAL_COLUMNS, TableConfig
from coptwin.eventlog.schema import EventSchema
from coptwin.model.columns import DTYPES

COLUMNS: tuple[str, ...] = CANONICAL_COLUMNS["annotations"]

#: Canonical schema (:data:`coptwin.model.columns.DTYPES`); ``created_at`` is a UTC
#: timestamp in microseconds.
SCHEMA: dict[str, pl.DataType] = DTYPES["annotations"]

_DEFAULT_TABLE = TableConfig(path="annotations")

EVENT_SCHEMA = EventSchema("annotations", SCHEMA)


def to_user(frame: pl.DataFrame, table: TableConfig | None) -> pl.DataFrame:
    """Rename canonical columns to the user's names before writing."""
    return EVENT_SCHEMA.to_user(frame, table)


def to_canonical(frame: pl.DataFrame, table: TableConfig | None) -> pl.DataFrame:
    """User columns -> canonical names and types; missing columns become nulls."""
    return EVENT_SCHEMA.to_canonical(frame, table)


def events_frame(events: Iterable[AnnotationEvent]) -> pl.DataFrame:
    """Canonical frame of events (the rows the store appends)."""
    return EVENT_SCHEMA.frame(events)
