"""The annotations table's columns: canonical schema and the user's column mapping.

The store writes and the fold reads canonical names
(:data:`coptwin.config.CANONICAL_COLUMNS` ``["annotations"]``); a config may
map them onto other names (``[tables.annotations.columns]``), so every frame
crosses this module on its way to or from Delta.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import polars as pl

from coptwin.annotations.model import AnnotationEvent
from coptwin.config import CANONICAL_COLUMNS, TableConfig
from coptwin.model import columns
from coptwin.model.columns import DTYPES

log = logging.getLogger(__name__)

COLUMNS: tuple[str, ...] = CANONICAL_COLUMNS["annotations"]

#: Canonical schema (:data:`coptwin.model.columns.DTYPES`); ``created_at`` is a UTC
#: timestamp in microseconds.
SCHEMA: dict[str, pl.DataType] = DTYPES["annotations"]

_DEFAULT_TABLE = TableConfig(path="annotations")


def _mapping(table: TableConfig | None) -> dict[str, str]:
    """canonical -> user column name, only where they differ."""
    if table is None:
        return {}
    return {c: table.column(c) for c in COLUMNS if table.column(c) != c}


def to_user(frame: pl.DataFrame, table: TableConfig | None) -> pl.DataFrame:
    """Rename canonical columns to the user's names before writing."""
    mapping = _mapping(table)
    return frame.rename(mapping) if mapping else frame


def to_canonical(frame: pl.DataFrame, table: TableConfig | None) -> pl.DataFrame:
    """User columns -> canonical names and types, as for every table
    (:func:`coptwin.model.columns.to_canonical`): missing optional columns become
    nulls, a ``created_at`` without time zone is UTC, other columns are dropped."""
    return columns.to_canonical(frame, table or _DEFAULT_TABLE, "annotations")


def events_frame(events: Iterable[AnnotationEvent]) -> pl.DataFrame:
    """Canonical frame of events (the rows the store appends)."""
    rows = [{name: getattr(e, name) for name in COLUMNS} for e in events]
    return pl.DataFrame(rows, schema=SCHEMA, orient="row") if rows else empty_frame()


def empty_frame() -> pl.DataFrame:
    return columns.empty_frame("annotations")


def iter_rows(frame: pl.DataFrame) -> Iterator[dict]:
    """Rows of a canonical frame as dicts (nulls as None)."""
    yield from frame.select(list(COLUMNS)).iter_rows(named=True)
