"""Columns of an event table: canonical names and types, and the user's column mapping.

Stores write and folds read canonical names; a config may map them onto other
names (``[tables.<name>.columns]``), so every frame crosses an
:class:`EventSchema` on its way to or from Delta.  Timestamps are UTC at
microsecond resolution.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
from deltalake import Field, Schema
from deltalake.schema import PrimitiveType

from coptwin.config import TableConfig
from coptwin.model import columns

#: polars type -> Delta primitive type name, for the types event tables use.
_DELTA_TYPES: dict[type[pl.DataType], str] = {
    pl.String: "string",
    pl.Datetime: "timestamp",
    pl.Float64: "double",
    pl.Int64: "long",
    pl.Boolean: "boolean",
}


@dataclass(frozen=True)
class EventSchema:
    """The canonical columns of one event table, in order, with their polars types."""

    #: Table name for messages and the Delta table's metadata ("annotations", "alarms").
    name: str
    types: Mapping[str, pl.DataType]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.types)

    def _mapping(self, table: TableConfig | None) -> dict[str, str]:
        """canonical -> user column name, only where they differ."""
        if table is None:
            return {}
        return {c: table.column(c) for c in self.types if table.column(c) != c}

    def to_user(self, frame: pl.DataFrame, table: TableConfig | None) -> pl.DataFrame:
        """Rename canonical columns to the user's names before writing."""
        mapping = self._mapping(table)
        return frame.rename(mapping) if mapping else frame

    def to_canonical(self, frame: pl.DataFrame, table: TableConfig | None) -> pl.DataFrame:
        """User columns -> canonical names and types, as for every table
        (:func:`coptwin.model.columns.to_canonical`): missing optional columns become
        nulls, a timestamp without time zone is UTC, other columns are dropped."""
        return columns.to_canonical(frame, table or TableConfig(path=self.name), self.name)

    def frame(self, rows: Iterable[Mapping[str, Any] | Any]) -> pl.DataFrame:
        """Canonical frame from dicts or objects with the columns as attributes."""
        out = [
            {c: (r.get(c) if isinstance(r, Mapping) else getattr(r, c)) for c in self.types}
            for r in rows
        ]
        return pl.DataFrame(out, schema=dict(self.types), orient="row") if out else self.empty()

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=dict(self.types))

    def conform(self, frame: pl.DataFrame) -> pl.DataFrame:
        """A canonical frame with every column present (missing ones null), in order."""
        missing = [c for c in self.types if c not in frame.columns]
        if missing:
            frame = frame.with_columns(pl.lit(None, dtype=self.types[c]).alias(c) for c in missing)
        return frame.select(list(self.types))

    def iter_rows(self, frame: pl.DataFrame) -> Iterator[dict]:
        """Rows of a canonical frame as dicts (nulls as None)."""
        yield from frame.select(list(self.types)).iter_rows(named=True)

    def delta_schema(self, table: TableConfig | None) -> Schema:
        """The Delta schema to create the table with (user column names)."""
        col = table.column if table is not None else (lambda c: c)
        return Schema(
            [Field(col(c), PrimitiveType(_DELTA_TYPES[type(t)])) for c, t in self.types.items()]
        )
