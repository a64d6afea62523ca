"""Selection kept in step between the sensors table and the USD stage.

Picking a row selects the sensor's marker prim (and frames it); picking a
marker — or the building a sensor is bound to, or any prim below it — in the
viewport selects the row.  The stage echoes every selection we set back as a
"selection changed" event; remembering what we set stops that echo from
bouncing around.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from ..engine.snapshot import SensorRow

log = logging.getLogger(__name__)

SelectPrims = Callable[[list[str]], None]
Frame = Callable[[], None]
SensorForPath = Callable[[str], "str | None"]


def _ancestors(path: str) -> list[str]:
    """'/a/b/c' -> ['/a/b/c', '/a/b', '/a'] (the path itself first)."""
    out = []
    while path and path != "/":
        out.append(path)
        path = path.rsplit("/", 1)[0]
    return out


class SelectionSync:
    """Two-way selection between table rows (sensor ids) and prim paths."""

    def __init__(
        self,
        select_prims: SelectPrims | None = None,
        frame_selection: Frame | None = None,
        sensor_for_path: SensorForPath | None = None,
    ) -> None:
        self._select_prims = select_prims
        self._frame = frame_selection
        self._sensor_for_path = sensor_for_path
        self._marker_to_sensor: dict[str, str] = {}
        self._building_to_sensors: dict[str, list[str]] = {}
        self._rows: dict[str, SensorRow] = {}
        self._pushed: list[str] | None = None
        self.selected: str | None = None

    def bind(
        self,
        select_prims: SelectPrims | None,
        frame_selection: Frame | None,
        sensor_for_path: SensorForPath | None,
    ) -> None:
        self._select_prims = select_prims
        self._frame = frame_selection
        self._sensor_for_path = sensor_for_path
        self._pushed = None
        self.selected = None

    def update(self, sensors: Sequence[SensorRow]) -> bool:
        """Refresh path maps from a snapshot; True when the selected sensor vanished."""
        self._rows = {row.sensor_id: row for row in sensors}
        self._marker_to_sensor = {r.marker_path: r.sensor_id for r in sensors if r.marker_path}
        buildings: dict[str, list[str]] = {}
        for row in sorted(sensors, key=lambda r: ((r.name or r.sensor_id).casefold(), r.sensor_id)):
            if row.bound_prim:
                buildings.setdefault(row.bound_prim, []).append(row.sensor_id)
        self._building_to_sensors = buildings
        if self.selected is not None and self.selected not in self._rows:
            self.selected = None
            return True
        return False

    def selected_row(self) -> SensorRow | None:
        return self._rows.get(self.selected) if self.selected else None

    def prim_paths_for(self, sensor_id: str) -> list[str]:
        """The prims that stand for a sensor in the viewport: its marker, else its building."""
        row = self._rows.get(sensor_id)
        if row is None:
            return []
        if row.marker_path:
            return [row.marker_path]
        return [row.bound_prim] if row.bound_prim else []

    def select_row(self, sensor_id: str | None, frame: bool = True) -> list[str]:
        """A row was picked: select its prim on the stage and frame it.

        Returns the prim paths sent to the stage ([] for none).
        """
        if sensor_id is not None and sensor_id not in self._rows:
            log.warning("selected sensor %r is not in the current snapshot", sensor_id)
            sensor_id = None
        self.selected = sensor_id
        paths = self.prim_paths_for(sensor_id) if sensor_id else []
        self._pushed = paths
        if self._select_prims is not None:
            self._select_prims(list(paths))
            if paths and frame and self._frame is not None:
                self._frame()
        return paths

    def sensor_for_prim(self, path: str) -> str | None:
        """The sensor a picked prim stands for: marker, engine lookup, or bound building."""
        if path in self._marker_to_sensor:
            return self._marker_to_sensor[path]
        if self._sensor_for_path is not None:
            try:
                sensor = self._sensor_for_path(path)
            except Exception as exc:  # a lookup failure must not break selection
                log.warning("sensor lookup for %s failed: %s", path, exc)
                sensor = None
            if sensor in self._rows:
                return sensor
        for candidate in _ancestors(path):
            if candidate in self._marker_to_sensor:
                return self._marker_to_sensor[candidate]
            bound = self._building_to_sensors.get(candidate)
            if bound:
                # several sensors on one building: keep the current one if it is among them
                return self.selected if self.selected in bound else bound[0]
        return None

    def on_stage_selection(self, paths: Sequence[str]) -> bool:
        """The stage selection changed; True when the selected row changed.

        The echo of our own :meth:`select_row` is ignored.  The most recently
        picked prim (last in the list) wins.  Picking prims that stand for no
        sensor clears the row selection, so the table never claims a
        selection the viewport does not show.
        """
        paths = list(paths)
        if self._pushed is not None and paths == self._pushed:
            self._pushed = None
            return False
        self._pushed = None
        sensor = None
        for path in reversed(paths):
            sensor = self.sensor_for_prim(path)
            if sensor is not None:
                break
        if sensor == self.selected:
            return False
        self.selected = sensor
        return True
