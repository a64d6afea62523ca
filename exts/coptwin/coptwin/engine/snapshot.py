"""Immutable pictures of the engine's state for user interfaces.

The omni.ui panel, the CLI summary and the tests all read the engine through
these plain dataclasses, so view-models never touch polars frames, USD or
threads.  A snapshot is cheap to make and safe to hand to Kit's main thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

ConnectionState = Literal["connecting", "connected", "disconnected"]


@dataclass(frozen=True)
class SensorRow:
    """One sensor as the panel shows it."""

    sensor_id: str
    name: str
    kind: str
    layer: str
    status: str
    value: float | None = None
    unit: str = ""
    quantity: str = ""
    ts: datetime | None = None
    #: Marker prim path in the overlay (select / frame it in the viewport).
    marker_path: str = ""
    #: Bound building prim path, "" when unbound.
    bound_prim: str = ""
    #: "exact" or "fallback" (see coptwin.geo.placement).
    placement: str = "exact"
    position: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class LayerRow:
    """One sensor layer with its visibility and counts per status."""

    name: str
    label: str
    visible: bool
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class EngineStatus:
    """What the status line says."""

    connection: ConnectionState = "connecting"
    #: Why the engine is disconnected (already redacted), "" otherwise.
    reason: str = ""
    #: Event sources in use, e.g. ("webhook", "polling").
    event_sources: tuple[str, ...] = ()
    #: Wall-clock time of the last applied update, None before the first.
    last_update: datetime | None = None
    #: Last applied Delta version per table name.
    versions: dict[str, int] = field(default_factory=dict)
    last_tick_ms: float | None = None
    #: None when live; otherwise the version or timestamp the COP shows.
    as_of: int | datetime | None = None
    rows_read: int = 0
    rows_skipped: dict[str, int] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.as_of is None


@dataclass(frozen=True)
class EngineSnapshot:
    """Everything a view needs at one moment."""

    status: EngineStatus
    layers: tuple[LayerRow, ...] = ()
    sensors: tuple[SensorRow, ...] = ()
    #: Moment the snapshot was taken (for "age" columns), timezone-aware UTC.
    now: datetime | None = None
