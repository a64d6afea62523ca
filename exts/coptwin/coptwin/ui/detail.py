"""The detail area of the selected sensor: facts, why it has its status, a small
plot, its building.

The plot shows the sensor's recent values (the engine keeps a bounded history
per sensor); the building block lists the bound prim's attributes.  Building
the detail is cached per (sensor, last reading) so refreshing the panel every
half second does not re-read history that did not change.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ..engine.snapshot import SensorRow
from .format import MISSING, age_seconds, format_age, format_number, format_time, format_value

log = logging.getLogger(__name__)

History = Callable[[str], Sequence[tuple[datetime, float]]]
BuildingAttributes = Callable[[str], Sequence[tuple[str, str]]]


@dataclass(frozen=True)
class PlotData:
    """Values oldest first and the y range to draw them in."""

    values: tuple[float, ...]
    y_min: float
    y_max: float
    start: datetime | None
    end: datetime | None
    #: e.g. "12 values, 2024-05-01 12:00:00 UTC … 12:05:00 UTC, min 20.1, max 22.4"
    caption: str
    #: Non-finite values left out of the plot (counted, never silently lost).
    dropped: int = 0


@dataclass(frozen=True)
class Detail:
    sensor_id: str
    title: str
    fields: tuple[tuple[str, str], ...]
    plot: PlotData | None
    building_path: str = ""
    building: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def plot_data(history: Sequence[tuple[datetime, float]], unit: str = "") -> PlotData | None:
    """Plot data for a history (any order); None when there is nothing to draw."""
    points = sorted((p for p in history if p[1] is not None), key=lambda p: p[0])
    finite = [(ts, float(v)) for ts, v in points if math.isfinite(v)]
    dropped = len(points) - len(finite)
    if not finite:
        return None
    values = tuple(v for _, v in finite)
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.05 if hi > lo else max(abs(hi) * 0.05, 1.0)
    start, end = finite[0][0], finite[-1][0]
    u = f" {unit}" if unit else ""
    caption = (
        f"{len(values)} values, {format_time(start)} … {format_time(end)}, "
        f"min {format_number(lo)}{u}, max {format_number(hi)}{u}"
    )
    if dropped:
        caption += f" ({dropped} non-finite left out)"
    return PlotData(values, lo - pad, hi + pad, start, end, caption, dropped)


def detail_fields(row: SensorRow, now: datetime) -> tuple[tuple[str, str], ...]:
    position = (
        ", ".join(format_number(c) for c in row.position) if row.position is not None else MISSING
    )
    return (
        ("Sensor id", row.sensor_id),
        ("Kind", row.kind or MISSING),
        ("Layer", row.layer or MISSING),
        ("Status", row.status),
        ("Why", row.reason or MISSING),
        ("Value", format_value(row.value, row.unit)),
        ("Quantity", row.quantity or MISSING),
        ("Reading time", format_time(row.ts)),
        ("Age", format_age(age_seconds(row.ts, now))),
        ("Placement", row.placement),
        ("Position", position),
        ("Marker prim", row.marker_path or MISSING),
        ("Building", row.bound_prim or "not bound"),
    )


class DetailVM:
    """Builds the :class:`Detail` of the selected sensor from engine callables."""

    def __init__(
        self,
        history: History | None = None,
        building_attributes: BuildingAttributes | None = None,
    ) -> None:
        self._history = history
        self._building_attributes = building_attributes
        self._key: tuple | None = None
        self._plot: PlotData | None = None
        self._building: tuple[tuple[str, str], ...] = ()
        self.detail: Detail | None = None

    def bind(self, history: History | None, building_attributes: BuildingAttributes | None) -> None:
        self._history = history
        self._building_attributes = building_attributes
        self._key = None
        self.detail = None

    def show(self, row: SensorRow | None, now: datetime) -> bool:
        """Show ``row`` (None clears); True when the detail changed."""
        if row is None:
            changed = self.detail is not None
            self.detail, self._key = None, None
            return changed
        key = (row.sensor_id, row.ts, row.value, row.bound_prim)
        if key != self._key:
            self._plot = self._read_plot(row)
            self._building = self._read_building(row.bound_prim)
            self._key = key
        detail = Detail(
            sensor_id=row.sensor_id,
            title=f"{row.name or row.sensor_id} ({row.status})",
            fields=detail_fields(row, now),
            plot=self._plot,
            building_path=row.bound_prim,
            building=self._building,
        )
        changed = detail != self.detail
        self.detail = detail
        return changed

    def _read_plot(self, row: SensorRow) -> PlotData | None:
        if self._history is None:
            return None
        try:
            return plot_data(self._history(row.sensor_id), row.unit)
        except Exception as exc:  # a history failure leaves the plot empty, not the panel
            log.warning("history of sensor %r unavailable: %s", row.sensor_id, exc)
            return None

    def _read_building(self, path: str) -> tuple[tuple[str, str], ...]:
        if not path or self._building_attributes is None:
            return ()
        try:
            return tuple(self._building_attributes(path))
        except Exception as exc:
            log.warning("attributes of %s unavailable: %s", path, exc)
            return ()
