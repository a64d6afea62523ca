"""The whole panel's state: one object the omni.ui window binds to.

``PanelVM`` pulls an :class:`~coptwin.engine.snapshot.EngineSnapshot` from the
engine, feeds the status, layers, sensors, selection, detail and time
view-models, and reports which parts changed so the window repaints only
those.  It never touches omni.ui, USD or threads; the Kit layer hands it
plain callables (select prims, frame the viewport, read a prim's attributes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from ..engine.snapshot import EngineSnapshot, EngineStatus
from .detail import BuildingAttributes, DetailVM
from .layers import LayersVM
from .selection import Frame, SelectionSync, SelectPrims
from .sensors import SensorsTableVM
from .status import DEFAULT_STALE_AFTER_S, StatusLine, format_status, idle_status_line
from .time_travel import TimeVM

log = logging.getLogger(__name__)


class EngineLike(Protocol):
    """The part of :class:`coptwin.engine.Engine` the panel uses."""

    def snapshot(self) -> EngineSnapshot: ...

    def set_layer_visible(self, layer: str, visible: bool) -> None: ...

    def set_as_of(self, when: int | datetime | None) -> None: ...

    def history(self, sensor_id: str) -> Sequence[tuple[datetime, float]]: ...


@dataclass(frozen=True)
class PanelChanges:
    """Which parts of the panel need repainting after a call."""

    status: bool = False
    layers: bool = False
    sensors: bool = False
    selection: bool = False
    detail: bool = False

    @property
    def any(self) -> bool:
        return self.status or self.layers or self.sensors or self.selection or self.detail


def _sensor_for_path(engine: Any) -> Callable[[str], str | None] | None:
    overlay = getattr(engine, "overlay", None)
    return getattr(overlay, "sensor_for_path", None)


class PanelVM:
    """State of the coptwin panel, refreshed from the engine on a timer."""

    def __init__(
        self,
        select_prims: SelectPrims | None = None,
        frame_selection: Frame | None = None,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        hide_rows_of_hidden_layers: bool = True,
    ) -> None:
        self.stale_after_s = stale_after_s
        self.hide_rows_of_hidden_layers = hide_rows_of_hidden_layers
        self._select_prims = select_prims
        self._frame = frame_selection
        self.engine: EngineLike | None = None
        self.idle_reason = "not started"
        self.status: StatusLine = idle_status_line(self.idle_reason)
        self.layers = LayersVM()
        self.sensors = SensorsTableVM()
        self.selection = SelectionSync(select_prims, frame_selection)
        self.detail = DetailVM()
        self.time = TimeVM()
        self._now = datetime.now(timezone.utc)

    def bind(
        self,
        engine: EngineLike | None,
        building_attributes: BuildingAttributes | None = None,
        idle_reason: str = "",
    ) -> None:
        """Point the panel at an engine (None: no engine; ``idle_reason`` says why).

        A non-empty ``idle_reason`` with an engine means the engine stopped
        (e.g. failed): its last picture stays, the status line says why.
        """
        same = engine is self.engine
        self.engine = engine
        self.idle_reason = idle_reason if (idle_reason or engine is not None) else "not started"
        if same:
            return
        if engine is None:
            self.layers.bind(None)
            self.time.bind(None)
            self.selection.bind(self._select_prims, self._frame, None)
            self.detail.bind(None, None)
        else:
            self.layers.bind(engine.set_layer_visible)
            self.time.bind(engine.set_as_of)
            self.selection.bind(self._select_prims, self._frame, _sensor_for_path(engine))
            self.detail.bind(engine.history, building_attributes)

    def refresh(self, now: datetime | None = None) -> PanelChanges:
        """Pull a snapshot and update every part; returns what changed."""
        snapshot = self._snapshot()
        now = now or (snapshot.now if snapshot and snapshot.now else datetime.now(timezone.utc))
        self._now = now
        if snapshot is None:
            status = idle_status_line(self.idle_reason)
            layers_changed = self.layers.update(())
            sensors_changed = self.sensors.update((), now)
            selection_changed = self.selection.update(())
        else:
            status = (
                idle_status_line(self.idle_reason)
                if self.idle_reason
                else format_status(snapshot.status, now, self.stale_after_s)
            )
            layers_changed = self.layers.update(snapshot.layers)
            hidden = self.layers.hidden_layers() if self.hide_rows_of_hidden_layers else None
            sensors_changed = self.sensors.update(snapshot.sensors, now, hidden)
            selection_changed = self.selection.update(snapshot.sensors)
        row = self.selection.selected_row()
        hidden = self.layers.hidden_layers() if self.hide_rows_of_hidden_layers else set()
        if row is not None and row.layer in hidden:
            # its layer was hidden: the marker is gone, so is the selection
            self.selection.select_row(None, frame=False)
            selection_changed = True
        status_changed = status != self.status
        self.status = status
        detail_changed = self.detail.show(self.selection.selected_row(), now)
        return PanelChanges(
            status_changed, layers_changed, sensors_changed, selection_changed, detail_changed
        )

    def _snapshot(self) -> EngineSnapshot | None:
        if self.engine is None:
            return None
        try:
            return self.engine.snapshot()
        except Exception as exc:  # a broken snapshot shows as a status, never a crash
            log.warning("engine snapshot failed: %s", exc)
            return EngineSnapshot(
                status=EngineStatus(connection="disconnected", reason=f"snapshot failed: {exc}")
            )

    # --- user actions -------------------------------------------------------------

    def select_row(self, sensor_id: str | None) -> PanelChanges:
        """The user picked a row: select and frame its prim, show its detail."""
        before = self.selection.selected
        self.selection.select_row(sensor_id)
        detail_changed = self.detail.show(self.selection.selected_row(), self._now)
        return PanelChanges(selection=before != self.selection.selected, detail=detail_changed)

    def on_stage_selection(self, paths: Sequence[str]) -> PanelChanges:
        """The viewport selection changed: select the matching row, if any."""
        if not self.selection.on_stage_selection(paths):
            return PanelChanges()
        if self.sensors.index_of(self.selection.selected) is None and self.selection.selected:
            # the picked sensor is filtered out: clear the filter so its row shows
            self.sensors.set_filter("")
            sensors_changed = True
        else:
            sensors_changed = False
        detail_changed = self.detail.show(self.selection.selected_row(), self._now)
        return PanelChanges(sensors=sensors_changed, selection=True, detail=detail_changed)

    def toggle_layer(self, name: str, visible: bool) -> PanelChanges:
        """Show or hide a layer, then refresh so the table follows."""
        if not self.layers.toggle(name, visible):
            return PanelChanges(layers=True)
        changes = self.refresh(self._now)
        return PanelChanges(
            status=changes.status,
            layers=True,
            sensors=True,
            selection=changes.selection,
            detail=changes.detail,
        )

    def set_filter(self, text: str) -> PanelChanges:
        return PanelChanges(sensors=self.sensors.set_filter(text))

    def sort_by(self, column: str) -> PanelChanges:
        self.sensors.set_sort(column)
        return PanelChanges(sensors=True)

    def apply_as_of(self, text: str) -> PanelChanges:
        self.time.apply(text)
        return self._after_time_change()

    def go_live(self) -> PanelChanges:
        self.time.go_live()
        return self._after_time_change()

    def _after_time_change(self) -> PanelChanges:
        changes = self.refresh(self._now)
        return PanelChanges(True, changes.layers, changes.sensors, changes.selection, True)
