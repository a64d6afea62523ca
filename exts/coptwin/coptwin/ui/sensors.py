"""The sensors table: one row per sensor, sortable by any column, filterable.

A city can hold thousands of sensors; operators find the few that matter by
sorting on status (alarms first) or age, and by typing a filter such as
``status:alarm kind:water``.  Sorting and filtering are pure functions of the
latest snapshot so tests pin them down without Kit.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..config import STATUSES
from ..engine.snapshot import SensorRow
from .format import age_seconds, format_age, format_value

log = logging.getLogger(__name__)

#: Column ids in display order, and their headers.
COLUMNS: tuple[str, ...] = ("name", "kind", "value", "status", "age")
HEADERS: dict[str, str] = {
    "name": "Name",
    "kind": "Kind",
    "value": "Value",
    "status": "Status",
    "age": "Age",
}
#: Keys a filter term may name, e.g. ``status:alarm``.
FILTER_KEYS: tuple[str, ...] = ("name", "id", "kind", "layer", "status", "unit", "quantity")

_SEVERITY = {status: i for i, status in enumerate(STATUSES)}


@dataclass(frozen=True)
class SensorItem:
    """One table row: display texts plus the raw row for selection and detail."""

    row: SensorRow
    value_text: str
    age_s: float | None
    age_text: str

    @property
    def sensor_id(self) -> str:
        return self.row.sensor_id

    def cell(self, column: str) -> str:
        """The text shown in ``column``."""
        if column == "value":
            return self.value_text
        if column == "age":
            return self.age_text
        if column == "name":
            return self.row.name or self.row.sensor_id
        if column in ("kind", "status"):
            return getattr(self.row, column)
        raise KeyError(f"unknown column {column!r}; expected one of {', '.join(COLUMNS)}")


def _fields(row: SensorRow) -> dict[str, str]:
    return {
        "name": row.name.casefold(),
        "id": row.sensor_id.casefold(),
        "kind": row.kind.casefold(),
        "layer": row.layer.casefold(),
        "status": row.status.casefold(),
        "unit": row.unit.casefold(),
        "quantity": row.quantity.casefold(),
    }


def parse_filter(text: str) -> list[tuple[str | None, str]]:
    """Split a filter into (key or None, needle) terms; every term must match.

    ``key:value`` limits a term to one field when the key is known
    (``FILTER_KEYS``); anything else is searched in name, id, kind, layer and
    status.
    """
    terms: list[tuple[str | None, str]] = []
    for token in text.split():
        key, sep, needle = token.partition(":")
        if sep and key.casefold() in FILTER_KEYS and needle:
            terms.append((key.casefold(), needle.casefold()))
        else:
            terms.append((None, token.casefold()))
    return terms


def matches(row: SensorRow, terms: Iterable[tuple[str | None, str]]) -> bool:
    fields = _fields(row)
    anywhere = ("name", "id", "kind", "layer", "status")
    for key, needle in terms:
        if key is not None:
            if needle not in fields[key]:
                return False
        elif not any(needle in fields[f] for f in anywhere):
            return False
    return True


def _missing_last(value: float | None, ascending: bool) -> tuple[int, float]:
    """Sort key that puts None and NaN after real values in both directions."""
    if value is None or math.isnan(value):
        return (1, 0.0)
    return (0, value if ascending else -value)


def sort_key(item: SensorItem, column: str, ascending: bool) -> tuple[Any, ...]:
    """Key for ``sorted(..., reverse=False)``; ties break on name then id.

    Missing values (event sensors without a value, sensors that never
    reported) always sort last, whichever the direction.
    """
    row = item.row
    tie = ((row.name or row.sensor_id).casefold(), row.sensor_id)
    if column == "value":
        return (*_missing_last(row.value, ascending), *tie)
    if column == "age":
        return (*_missing_last(item.age_s, ascending), *tie)
    if column == "status":
        rank = _SEVERITY.get(row.status, len(STATUSES))
        return (rank if ascending else -rank, *tie)
    if column in ("name", "kind"):
        text = item.cell(column).casefold()
        return (text, *tie)  # direction for text columns is applied by reversing
    raise KeyError(f"unknown column {column!r}; expected one of {', '.join(COLUMNS)}")


class SensorsTableVM:
    """Filtered, sorted rows of the latest snapshot."""

    def __init__(self, sort_column: str = "status", ascending: bool = True) -> None:
        if sort_column not in COLUMNS:
            raise KeyError(f"unknown column {sort_column!r}; expected one of {', '.join(COLUMNS)}")
        self.sort_column = sort_column
        self.ascending = ascending
        self.filter_text = ""
        self._terms: list[tuple[str | None, str]] = []
        self._all: list[SensorItem] = []
        self._hidden_layers: set[str] = set()
        self._items: list[SensorItem] = []

    @property
    def items(self) -> list[SensorItem]:
        """Rows to show, filtered and sorted."""
        return list(self._items)

    @property
    def total(self) -> int:
        return len(self._all)

    def update(
        self,
        sensors: Sequence[SensorRow],
        now: datetime,
        hidden_layers: set[str] | None = None,
    ) -> bool:
        """Take a snapshot's rows, leaving out rows of ``hidden_layers``.

        True when the shown rows changed.
        """
        self._all = [
            SensorItem(
                row=row,
                value_text=format_value(row.value, row.unit),
                age_s=(age := age_seconds(row.ts, now)),
                age_text=format_age(age),
            )
            for row in sensors
        ]
        self._hidden_layers = hidden_layers or set()
        return self._rebuild()

    def set_filter(self, text: str) -> bool:
        self.filter_text = text
        self._terms = parse_filter(text)
        return self._rebuild()

    def set_sort(self, column: str, ascending: bool | None = None) -> bool:
        """Sort by ``column``; ``None`` flips the direction when it is already the
        sort column (a header click), else sorts ascending."""
        if column not in COLUMNS:
            raise KeyError(f"unknown column {column!r}; expected one of {', '.join(COLUMNS)}")
        if ascending is None:
            ascending = not self.ascending if column == self.sort_column else True
        self.sort_column = column
        self.ascending = ascending
        return self._rebuild()

    def index_of(self, sensor_id: str | None) -> int | None:
        """Position of a sensor among the shown rows (None when filtered out)."""
        if sensor_id is None:
            return None
        return next((i for i, it in enumerate(self._items) if it.sensor_id == sensor_id), None)

    def _rebuild(self) -> bool:
        rows = [
            item
            for item in self._all
            if item.row.layer not in self._hidden_layers and matches(item.row, self._terms)
        ]
        column, ascending = self.sort_column, self.ascending
        rows.sort(key=lambda it: sort_key(it, column, ascending))
        if not ascending and column in ("name", "kind"):
            rows.reverse()
        changed = [(i.row, i.age_text) for i in rows] != [(i.row, i.age_text) for i in self._items]
        self._items = rows
        return changed
