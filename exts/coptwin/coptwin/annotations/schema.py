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

log = logging.getLogger(__name__)

COLUMNS: tuple[str, ...] = CANONICAL_COLUMNS["annotations"]

#: Canonical schema; ``created_at`` is a UTC timestamp in microseconds.
SCHEMA: dict[str, pl.DataType] = {
    "annotation_id": pl.String(),
    "event_id": pl.String(),
    "event": pl.String(),
    "created_at": pl.Datetime("us", "UTC"),
    "author": pl.String(),
    "target": pl.String(),
    "text": pl.String(),
    "status": pl.String(),
    "parent_id": pl.String(),
}


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
    """User columns -> canonical names and types; missing columns become nulls.

    A ``created_at`` stored without time zone is taken as UTC; other columns
    of the table are dropped (they are not part of the contract).
    """
    reverse = {user: canonical for canonical, user in _mapping(table).items()}
    frame = frame.rename({k: v for k, v in reverse.items() if k in frame.columns})
    exprs = []
    for name, dtype in SCHEMA.items():
        if name not in frame.columns:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
        elif name == "created_at":
            col = frame.schema[name]
            if isinstance(col, pl.Datetime):
                expr = pl.col(name)
                expr = (
                    expr.dt.replace_time_zone("UTC")
                    if col.time_zone is None
                    else expr.dt.convert_time_zone("UTC")
                )
                exprs.append(expr.dt.cast_time_unit("us"))
            else:
                exprs.append(pl.col(name).cast(dtype, strict=False))
        else:
            exprs.append(pl.col(name).cast(dtype, strict=False))
    return frame.select(exprs)


def events_frame(events: Iterable[AnnotationEvent]) -> pl.DataFrame:
    """Canonical frame of events (the rows the store appends)."""
    rows = [{name: getattr(e, name) for name in COLUMNS} for e in events]
    return pl.DataFrame(rows, schema=SCHEMA, orient="row") if rows else empty_frame()


def empty_frame() -> pl.DataFrame:
    return pl.DataFrame(schema=SCHEMA)


def iter_rows(frame: pl.DataFrame) -> Iterator[dict]:
    """Rows of a canonical frame as dicts (nulls as None)."""
    yield from frame.select(list(COLUMNS)).iter_rows(named=True)
