"""Selection kept in step between the sensors table and the USD stage.

Picking a row selects the sensor's data prim and frames its marker (position
and size: the data prim itself is an empty Xform); picking a marker — a
PointInstancer instance, resolved with :mod:`coptwin.ui.picking` — or the
building a sensor is bound to, or any prim below it, in the viewport selects
the row.  The stage echoes every selection we set back as a "selection
changed" event; remembering what we set stops that echo from bouncing around.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from ..engine.snapshot import SensorRow
from .picking import FrameTarget, Pick, instancer_of, resolve_instance_pick

log = logging.getLogger(__name__)

SelectPrims = Callable[[list[str]], None]
#: Frames a marker (None: frame whatever the stage has selected, e.g. a building).
Frame = Callable[[FrameTarget | None], None]
SensorForPath = Callable[[str], "str | None"]
#: What the overlay says about its markers: instancer path -> layer, the marker size
#: in stage units, and instance index -> sensor.
Instancers = Callable[[], Mapping[str, str]]


def _ancestors(path: str) -> list[str]:
    """'/a/b/c' -> ['/a/b/c', '/a/b', '/a'] (the path itself first)."""
    out = []
    while path and path != "/":
        out.append(path)
        path = path.rsplit("/", 1)[0]
    return out


class SelectionIndex(NamedTuple):
    """Sensor rows by id, marker data prim -> sensor, building -> its sensors."""

    rows: dict[str, SensorRow]
    markers: dict[str, str]
    buildings: dict[str, list[str]]


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
        self._instancers: Instancers = dict
        self._sensor_for_instance: Callable[[str, int], str | None] | None = None
        #: Marker size in stage units (how near a picked point must be to a marker).
        self.marker_size = 1.0
        self._last_pick: Pick | None = None

    def bind(
        self,
        select_prims: SelectPrims | None,
        frame_selection: Frame | None,
        sensor_for_path: SensorForPath | None,
        instancers: Instancers | None = None,
        sensor_for_instance: Callable[[str, int], str | None] | None = None,
        marker_size: float = 1.0,
    ) -> None:
        self._select_prims = select_prims
        self._frame = frame_selection
        self._sensor_for_path = sensor_for_path
        self._instancers = instancers or dict
        self._sensor_for_instance = sensor_for_instance
        self.marker_size = marker_size
        self._pushed = None
        self._last_pick = None
        self.selected = None

    @staticmethod
    def index(sensors: Sequence[SensorRow]) -> SelectionIndex:
        """The path maps of a snapshot (pure, O(sensors): the Kit panel builds it off
        the main thread)."""
        rows = {row.sensor_id: row for row in sensors}
        markers = {r.marker_path: r.sensor_id for r in sensors if r.marker_path}
        buildings: dict[str, list[str]] = {}
        for row in sorted(sensors, key=lambda r: ((r.name or r.sensor_id).casefold(), r.sensor_id)):
            if row.bound_prim:
                buildings.setdefault(row.bound_prim, []).append(row.sensor_id)
        return SelectionIndex(rows, markers, buildings)

    def current_index(self) -> SelectionIndex:
        return SelectionIndex(self._rows, self._marker_to_sensor, self._building_to_sensors)

    def adopt(self, index: SelectionIndex) -> bool:
        """Use a snapshot's path maps; True when the selected sensor vanished."""
        self._rows, self._marker_to_sensor, self._building_to_sensors = index
        if self.selected is not None and self.selected not in self._rows:
            self.selected = None
            return True
        return False

    def update(self, sensors: Sequence[SensorRow]) -> bool:
        """Refresh path maps from a snapshot; True when the selected sensor vanished."""
        return self.adopt(self.index(sensors))

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
                self._frame(self.frame_target(sensor_id))
        return paths

    def frame_target(self, sensor_id: str | None) -> FrameTarget | None:
        """The marker to frame for a sensor (None: it has none; frame the selection)."""
        row = self._rows.get(sensor_id) if sensor_id else None
        if row is None or not row.marker_path or row.position is None:
            return None
        return FrameTarget(tuple(float(c) for c in row.position), self.marker_size)

    def push(self, sensor_id: str) -> list[str]:
        """Put a sensor's prims on the stage selection without framing (a viewport pick)."""
        paths = self.prim_paths_for(sensor_id)
        self._pushed = paths
        if self._select_prims is not None and paths:
            self._select_prims(list(paths))
        return paths

    def on_pick(self, pick: Pick) -> str | None:
        """A viewport pick query answered (path, world point): the sensor it hit, if any.

        Selects that sensor's row; the caller pushes its data prim to the stage so
        the viewport shows one marker's sensor selected, not the whole instancer.
        """
        self._last_pick = pick
        sensor = self.sensor_for_pick(pick)
        if sensor is not None:
            self.selected = sensor
        return sensor

    def sensor_for_pick(self, pick: Pick) -> str | None:
        direct = self.sensor_for_prim(pick.path, instances=False)
        if direct is not None:
            return direct
        positions = {r.sensor_id: (r.layer, r.position) for r in self._rows.values()}
        try:
            instancers = self._instancers()
        except Exception as exc:  # a lookup failure must not break selection
            log.warning("marker instancer lookup failed: %s", exc)
            return None
        sensor = resolve_instance_pick(
            pick, instancers, positions, self.marker_size, self._sensor_for_instance
        )
        return sensor if sensor in self._rows else None

    def is_instancer_path(self, path: str) -> bool:
        try:
            return instancer_of(path, self._instancers()) is not None
        except Exception:
            return False

    def sensor_for_prim(self, path: str, instances: bool = True) -> str | None:
        """The sensor a picked prim stands for: data prim, marker instance, or building.

        A marker instancer's path (or a prototype below it) resolves through the
        last viewport pick on it (its world point); alone it names no sensor.
        """
        if instances and self.is_instancer_path(path):
            last = self._last_pick
            if last is not None and instancer_of(last.path, self._instancers()) == instancer_of(
                path, self._instancers()
            ):
                return self.sensor_for_pick(last)
            return None
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
        if sensor is None and paths and self.is_instancer_path(paths[-1]):
            return False  # a marker instance whose pick query has not answered yet
        if sensor == self.selected:
            return False
        self.selected = sensor
        return True
