"""Immutable pictures of the engine's state for user interfaces.

The omni.ui panel, the CLI summary and the tests all read the engine through
these plain dataclasses, so view-models never touch polars frames, USD or
threads.  A snapshot is cheap to make and safe to hand to Kit's main thread;
:func:`build_snapshot` makes one from an engine (``Engine.snapshot()``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import polars as pl

from coptwin.engine.alarms import AlarmsView

if TYPE_CHECKING:  # the engine imports this module
    from coptwin.engine.engine import Engine

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
    #: Why the sensor has its status, e.g. "value 31.2 °C above alarm_high 30".
    reason: str = ""


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
    #: Event sources that do not work, one line each with what covers for them.
    event_problems: tuple[str, ...] = ()
    #: Per event source: received, hints, malformed, foreign, ignored.
    event_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Readings data files skipped as unreadable (each named in the log); the table
    #: stays connected: storage is reachable and every other file is applied.
    quarantined_files: int = 0
    #: Rows in the quarantined readings files (from the writers' statistics).
    quarantined_rows: int = 0
    #: Per readings column, values of the wrong type that became null.
    uncast: dict[str, int] = field(default_factory=dict)
    #: Why the readings were last reloaded in full (not the first load), "" if never.
    last_reload: str = ""

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
    #: Operators' alarms (None: no alarms table configured).
    alarms: AlarmsView | None = None


def build_snapshot(engine: Engine) -> EngineSnapshot:
    """The engine's state now, as plain rows (takes the engine's lock while reading)."""
    now = engine.clock()
    with engine.lock:
        closed = engine.closed and engine.overlay is None
        status = EngineStatus(
            connection="disconnected" if closed else engine.connection,
            reason="engine closed" if closed else engine.reason,
            event_sources=engine.event_sources,
            last_update=engine.last_update,
            versions=dict(engine.shown_versions),
            last_tick_ms=engine.last_tick.total_ms if engine.last_tick else None,
            as_of=engine.as_of,
            rows_read=engine.running.rows_read,
            rows_skipped=dict(engine.running.skipped),
            event_problems=engine.hub.problems if engine.hub is not None else (),
            event_counts=engine.hub.stats if engine.hub is not None else {},
            quarantined_files=len(engine.running.quarantined),
            quarantined_rows=engine.running.quarantined_rows,
            uncast=dict(engine.running.uncast),
            last_reload=engine.running.last_reload,
        )
        alarms = engine.alarms.view(now) if engine.alarms is not None else None
        registry, state, overlay = engine.registry, engine.state, engine.overlay
        if registry is None or state is None or not (engine.opened or engine.closed):
            # still opening: rows appear with their markers (to select and frame them)
            return EngineSnapshot(status=status, now=now, alarms=alarms)
        verdicts, positions, facts = engine.verdicts, engine.positions, engine.facts
        table = registry.frame.select("sensor_id", "name", "kind", "layer", "unit").join(
            state.latest.select(
                "sensor_id", "value", "quantity", "ts", pl.col("unit").alias("reading_unit")
            ),
            on="sensor_id",
            how="left",
            maintain_order="left",
        )
        sensors: list[SensorRow] = []
        counts: dict[str, dict[str, int]] = {}
        for i, row in enumerate(table.iter_rows(named=True)):
            sid, layer = row["sensor_id"], row["layer"]
            st = str(verdicts.status[i])
            per_layer = counts.setdefault(layer, {})
            per_layer[st] = per_layer.get(st, 0) + 1
            marker = overlay.marker_path(sid) if overlay is not None else None
            sensors.append(
                SensorRow(
                    sensor_id=sid,
                    name=row["name"] or sid,
                    kind=row["kind"],
                    layer=layer,
                    status=st,
                    value=row["value"],
                    unit=row["reading_unit"] or row["unit"] or "",
                    quantity=row["quantity"] or "",
                    ts=row["ts"],
                    marker_path=str(marker) if marker is not None else "",
                    bound_prim=facts.bound_prim[i],
                    placement=facts.placement[i],
                    position=positions.get(sid),
                    reason=verdicts.reason(i),
                )
            )
        layers = tuple(
            LayerRow(
                name=name,
                label=label,
                visible=engine.layer_visible.get(name, visible),
                counts=counts.get(name, {}),
            )
            for name, label, visible in engine.layer_rows()
        )
    return EngineSnapshot(
        status=status, layers=layers, sensors=tuple(sensors), now=now, alarms=alarms
    )
