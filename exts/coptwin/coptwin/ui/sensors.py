"""The sensors table: one row per sensor, sortable by any column, filterable.

A city can hold thousands of sensors; operators find the few that matter by
sorting on status (alarms first) or age, and by typing a filter such as
``status:alarm kind:water``.  Sorting and filtering are pure functions of the
latest snapshot so tests pin them down without Kit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..config import STATUSES
from ..engine.snapshot import SensorRow
from .format import age_seconds, format_age_coarse, format_value

#: Column ids in display order, and their headers.
HEADERS: dict[str, str] = {
    "name": "Name",
    "kind": "Kind",
    "value": "Value",
    "status": "Status",
    "age": "Age",
}
COLUMNS: tuple[str, ...] = tuple(HEADERS)
#: Keys a filter term may name, e.g. ``status:alarm``.
FILTER_KEYS: tuple[str, ...] = ("name", "id", "kind", "layer", "status", "unit", "quantity")

_SEVERITY = {status: i for i, status in enumerate(STATUSES)}


def _unknown_column(column: str) -> KeyError:
    return KeyError(f"unknown column {column!r}; expected one of {', '.join(COLUMNS)}")


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
        raise _unknown_column(column)


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
    raise _unknown_column(column)


@dataclass(frozen=True)
class TableView:
    """One computed table: every item, the shown ones in order, and what changed.

    Computing it is O(sensors) and touches nothing shared, so the Kit panel
    computes it in a worker thread; adopting it on the main thread is O(1) and
    the window repaints only ``changed`` rows unless ``reordered``.
    """

    settings: tuple[Any, ...] = ("", "status", True, frozenset())
    all_items: tuple[SensorItem, ...] = ()
    shown: tuple[SensorItem, ...] = ()
    #: Display texts per shown sensor id (what a row's cells say).
    texts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    order: tuple[str, ...] = ()
    #: Shown rows whose texts changed since the previous view (same order).
    changed: tuple[str, ...] = ()
    #: The shown rows, or their order, differ from the previous view.
    reordered: bool = True
    #: ``id`` of the view this one was diffed against (0: none).
    base: int = 0

    @property
    def any_change(self) -> bool:
        return self.reordered or bool(self.changed)


def _cells(item: SensorItem) -> tuple[str, ...]:
    return tuple(item.cell(column) for column in COLUMNS)


def make_items(sensors: Sequence[SensorRow], now: datetime) -> tuple[SensorItem, ...]:
    """Display items for a snapshot's rows (ages in the table's coarse steps)."""
    return tuple(
        SensorItem(
            row=row,
            value_text=format_value(row.value, row.unit),
            age_s=(age := age_seconds(row.ts, now)),
            age_text=format_age_coarse(age),
        )
        for row in sensors
    )


def compute_view(
    items: tuple[SensorItem, ...],
    settings: tuple[Any, ...],
    previous: TableView | None,
) -> TableView:
    """Filter and sort ``items`` for ``settings``; diff against ``previous`` (pure)."""
    filter_text, column, ascending, hidden = settings
    terms = parse_filter(filter_text)
    rows = [
        item
        for item in items
        if item.row.layer not in hidden and (not terms or matches(item.row, terms))
    ]
    rows.sort(key=lambda it: sort_key(it, column, ascending))
    if not ascending and column in ("name", "kind"):
        rows.reverse()
    order = tuple(item.sensor_id for item in rows)
    texts = {item.sensor_id: _cells(item) for item in rows}
    base = id(previous) if previous is not None else 0
    if previous is None or previous.order != order:
        return TableView(settings, items, tuple(rows), texts, order, order, True, base)
    old = previous.texts
    changed = tuple(sid for sid in order if old.get(sid) != texts[sid])
    return TableView(settings, items, tuple(rows), texts, order, changed, False, base)


class SensorsTableVM:
    """Filtered, sorted rows of the latest snapshot."""

    def __init__(self, sort_column: str = "status", ascending: bool = True) -> None:
        if sort_column not in COLUMNS:
            raise _unknown_column(sort_column)
        self.sort_column = sort_column
        self.ascending = ascending
        self.filter_text = ""
        self._hidden_layers: frozenset[str] = frozenset()
        self.view = TableView(settings=self.settings())
        self._index: dict[str, int] = {}

    @property
    def items(self) -> list[SensorItem]:
        """Rows to show, filtered and sorted."""
        return list(self.view.shown)

    @property
    def total(self) -> int:
        return len(self.view.all_items)

    def settings(self, hidden_layers: Iterable[str] | None = None) -> tuple[Any, ...]:
        """What the shown rows depend on besides the data (compared before adopting)."""
        hidden = self._hidden_layers if hidden_layers is None else frozenset(hidden_layers)
        return (self.filter_text, self.sort_column, self.ascending, hidden)

    def prepare(
        self,
        sensors: Sequence[SensorRow],
        now: datetime,
        hidden_layers: Iterable[str] | None = None,
    ) -> TableView:
        """The view of a snapshot's rows (any thread; nothing here is changed)."""
        return compute_view(make_items(sensors, now), self.settings(hidden_layers), self.view)

    def adopt(self, view: TableView) -> bool:
        """Show a prepared view (main thread, O(1)); True when the shown rows changed.

        A view prepared for other settings (the user changed the filter or sort
        meanwhile), or diffed against a view that is no longer shown (two refreshes
        prepared at once), is recomputed against what is shown.
        """
        _f, _c, _a, hidden = view.settings
        if view.settings != self.settings(hidden) or view.base != id(self.view):
            view = compute_view(view.all_items, self.settings(hidden), self.view)
        self._hidden_layers = hidden
        self.view = view
        if view.reordered:
            self._index = {sid: i for i, sid in enumerate(view.order)}
        return view.any_change

    def update(
        self,
        sensors: Sequence[SensorRow],
        now: datetime,
        hidden_layers: set[str] | None = None,
    ) -> bool:
        """Take a snapshot's rows, leaving out rows of ``hidden_layers``.

        True when the shown rows changed.
        """
        return self.adopt(self.prepare(sensors, now, hidden_layers or set()))

    def set_filter(self, text: str) -> bool:
        self.filter_text = text
        return self._recompute()

    def set_sort(self, column: str, ascending: bool | None = None) -> bool:
        """Sort by ``column``; ``None`` flips the direction when it is already the
        sort column (a header click), else sorts ascending."""
        if column not in COLUMNS:
            raise _unknown_column(column)
        if ascending is None:
            ascending = not self.ascending if column == self.sort_column else True
        self.sort_column = column
        self.ascending = ascending
        return self._recompute()

    def index_of(self, sensor_id: str | None) -> int | None:
        """Position of a sensor among the shown rows (None when filtered out)."""
        if sensor_id is None:
            return None
        return self._index.get(sensor_id)

    def _recompute(self) -> bool:
        return self.adopt(compute_view(self.view.all_items, self.settings(), self.view))
