"""The USD overlay: live sensor markers and attributes in a layer of their own.

Why a session sublayer: the base scene (a CityEngine export can take hours to make) is
never written; the session layer is the strongest place on a stage, so every opinion
authored here wins over the scene, and removing the sublayer removes the COP.

One input shape: a :class:`MarkerBatch`, many sensors' current state as columns.
Why two passes: a tick may change 10,000 sensors and must stay far below 100 ms, yet
every attribute written costs a few microseconds in Sdf plus one change notice on the
stage.  So

1. :meth:`Overlay.stage_batch` (any thread, no USD) patches per-layer numpy arrays
   (positions, colours, prototype indices) through a sensor -> index map and queues
   each sensor's detail as a reference into the batch (newest wins);
2. :meth:`Overlay.flush` (the thread that owns the stage), inside one ``Sdf.ChangeBlock``,
   creates the USD structure new sensors need, writes each changed PointInstancer array
   once (what the viewport shows is always current), then the *detail pass*: per-sensor
   data prims and bound buildings, writing only values that changed through cached
   AttributeSpecs, for at most ``detail_time_budget_s`` of wall time once
   :data:`DETAIL_FLOOR` units of work are done (a unit is one sensor, a new data prim
   ten), so small ticks are always complete and deterministic.  The rest wait, oldest
   first, for the next flush, :meth:`Overlay.flush_details` or :meth:`Overlay.export`.

Layout (``root`` defaults to ``/COP``)::

    /COP/Sensors/<layer>                    Xform, visibility, coptwin:label
    /COP/Sensors/<layer>/Markers            PointInstancer (one instance per sensor)
    /COP/Sensors/<layer>/Markers/Prototypes/<kind>
    /COP/Sensors/<layer>/Sensors/<name>     Xform at the sensor, coptwin:* attributes
    /COP/Annotations                        owned by coptwin.scene.pins
    /<building prim>                        over: coptwin:<quantity>, coptwin:status, coptwin:ts
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from pxr import Gf, Sdf, Usd, UsdGeom, Vt

from coptwin.scene.buildingattrs import BuildingAttrs
from coptwin.scene.coproot import write_cop_root
from coptwin.scene.layer_file import write_layer
from coptwin.scene.markers import author_prototype, shape_for
from coptwin.scene.naming import iso_utc, prim_name, stable_id

log = logging.getLogger(__name__)

__all__ = ["MarkerBatch", "Overlay", "OverlayStats", "iso_utc", "write_cop_root"]

_T = Sdf.ValueTypeNames
_VARYING = Sdf.VariabilityVarying
_UNIFORM = Sdf.VariabilityUniform
_DEFAULT_COLOR = (0.6, 0.6, 0.6)
_ARRAYS = ("positions", "colors", "proto", "ids", "hidden")
_TEXT_ATTRS = ("coptwin:kind", "coptwin:unit", "coptwin:quantity", "coptwin:placement")
#: Wall time the detail pass may take per flush() by default; see the module docstring.
DEFAULT_DETAIL_TIME_BUDGET_S = 0.020
#: Units of detail work always done per flush(), whatever the time budget: a tick of up
#: to ~200 sensors is written completely (a new data prim counts as ten).
DETAIL_FLOOR = 200
_CREATE_UNITS = 10

Position = tuple[float, float, float]


@dataclass
class MarkerBatch:
    """Many sensors' current state as columns: row ``i`` is sensor ``sensor_ids[i]``.

    A row carries everything the overlay shows of its sensor (newest wins, nothing is
    merged).  ``colors`` are (N, 3) linear RGB.  ``positions`` and ``building_attrs``
    are sparse: only sensors that moved (or are new) and bound sensors.  Optional
    columns left empty get their defaults (status "unknown", no value, unit "", no
    timestamp, quantity "", placement "exact", unbound); a value or timestamp of None
    keeps the one already written.
    """

    sensor_ids: list[str]
    layers: list[str]
    kinds: list[str]
    colors: np.ndarray
    statuses: list[str] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    #: datetime (naive = UTC) or ready ISO-8601 text
    ts: list[datetime | str | None] = field(default_factory=list)
    quantities: list[str] = field(default_factory=list)
    placements: list[str] = field(default_factory=list)
    #: "" or the prim path of the building the sensor is bound to
    bound_prims: list[str] = field(default_factory=list)
    positions: dict[str, Position] = field(default_factory=dict)
    #: Extra attributes of a bound sensor's building (keys get the ``coptwin:`` namespace).
    building_attrs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.sensor_ids)
        self.colors = np.asarray(self.colors, dtype=np.float32).reshape(n, 3)
        for name, default in (
            ("statuses", "unknown"),
            ("values", None),
            ("units", ""),
            ("ts", None),
            ("quantities", ""),
            ("placements", "exact"),
            ("bound_prims", ""),
        ):
            column = getattr(self, name)
            if not column and n:
                setattr(self, name, [default] * n)
            elif len(column) != n:
                raise ValueError(f"MarkerBatch.{name} has {len(column)} rows, not {n}")
        if len(self.layers) != n or len(self.kinds) != n:
            raise ValueError(f"MarkerBatch: layers and kinds need {n} rows")

    def __len__(self) -> int:
        return len(self.sensor_ids)


@dataclass
class OverlayStats:
    """What the overlay did since the previous flush(); ``skipped`` counts bad input."""

    #: Batch rows staged.
    updates: int = 0
    created: int = 0
    details_written: int = 0
    details_pending: int = 0
    attribute_writes: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


class _Layer:
    """One sensor layer: its prims and the PointInstancer arrays, grown by doubling."""

    def __init__(self, name: str, prim: Sdf.PrimSpec) -> None:
        self.name = name
        self.prim = prim
        self.instancer: Sdf.PrimSpec | None = None
        self.sensors_scope: Sdf.PrimSpec | None = None
        self.prototypes_scope: Sdf.PrimSpec | None = None
        self.kinds: dict[str, int] = {}
        self.names: set[str] = set()
        #: ids of markers with no position yet: the instancer's invisibleIds
        self.unplaced: set[int] = set()
        #: the sensor each instance shows, in instance order (viewport picks)
        self.sensor_ids: list[str] = []
        self.n = 0
        cap = 64
        self.positions = np.zeros((cap, 3), dtype=np.float32)
        self.colors = np.zeros((cap, 3), dtype=np.float32)
        self.proto = np.zeros(cap, dtype=np.int32)
        self.ids = np.zeros(cap, dtype=np.int64)
        self.dirty: set[str] = set()
        self.attrs: dict[str, Any] = {}

    def add(self, sensor_id: str, sid: int) -> int:
        if self.n == len(self.ids):
            cap = 2 * len(self.ids)
            self.positions = np.resize(self.positions, (cap, 3))
            self.colors = np.resize(self.colors, (cap, 3))
            self.proto = np.resize(self.proto, cap)
            self.ids = np.resize(self.ids, cap)
        i = self.n
        self.n += 1
        self.ids[i] = sid
        self.sensor_ids.append(sensor_id)
        self.colors[i] = _DEFAULT_COLOR
        self.unplaced.add(sid)  # no marker at the origin before the first position
        self.dirty.update(_ARRAYS)
        return i


class _Sensor:
    """Per-sensor cache: where it lives and the detail values last written."""

    __slots__ = (
        "sensor_id",
        "layer",
        "index",
        "sid",
        "name",
        "path",
        "prim",
        "kind",
        "position",
        "specs",
        "written",
        "bound",
    )

    def __init__(self, sensor_id: str, layer: _Layer, index: int, sid: int, name: str) -> None:
        self.sensor_id = sensor_id
        self.layer = layer
        self.index = index
        self.sid = sid
        self.name = name
        self.path = layer.prim.path.AppendChild("Sensors").AppendChild(name)
        self.prim: Sdf.PrimSpec | None = None
        self.kind: str | None = None
        #: where the marker is, in full precision (the instancer array is float32)
        self.position: Position | None = None
        #: attribute name -> AttributeSpec, and -> last value written
        self.specs: dict[str, Sdf.AttributeSpec] = {}
        self.written: dict[str, Any] = {}
        self.bound = ""


class Overlay:
    """The COP overlay layer on a stage; create with :meth:`attach`."""

    def __init__(
        self,
        stage: Usd.Stage,
        layer: Sdf.Layer,
        root: str,
        meters_per_unit: float,
        up_axis: str,
        marker_size_m: float,
        marker_shapes: Mapping[str, str] | None,
        detail_time_budget_s: float | None,
    ) -> None:
        self._stage = stage
        #: the overlay's own (anonymous) layer, its root prim and the stage's units and
        #: up axis (what coptwin.scene.pins draws with); read only
        self.layer = layer
        self.root_path = Sdf.Path(root)
        self.meters_per_unit = float(meters_per_unit)
        self.up_axis = up_axis
        self._sensors_path = self.root_path.AppendChild("Sensors")
        self._marker_size_m = float(marker_size_m)
        self._marker_shapes = dict(marker_shapes or {})
        #: max seconds the detail pass may take per flush() (None: no limit)
        self.detail_time_budget_s = detail_time_budget_s
        self._layers: dict[str, _Layer] = {}
        self._layer_names: set[str] = set()
        self._sensors: dict[str, _Sensor] = {}
        self._by_path: dict[str, str] = {}
        self._sids: set[int] = set()
        #: detail writes waiting for the budget: sensor id -> (batch, row)
        self._pending: OrderedDict[str, tuple[MarkerBatch, int]] = OrderedDict()
        #: staged rows that need new USD structure (a sensor or marker kind seen
        #: for the first time), written by flush()
        self._needs_structure: list[tuple[MarkerBatch, list[int]]] = []
        #: what was staged since the last flush (flush() reports it)
        self._staged = OverlayStats()
        #: stage_batch() (worker thread) and flush() (stage thread) share the bookkeeping
        self._lock = threading.RLock()
        self._buildings = BuildingAttrs(stage, layer)
        self._attached = False
        self._warned: set[tuple[str, str]] = set()
        self._ts_key: Any = None
        self._ts_text = ""

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def attach(
        cls,
        stage: Usd.Stage,
        root: str = "/COP",
        meters_per_unit: float | None = None,
        up_axis: str | None = None,
        *,
        marker_size_m: float = 3.0,
        marker_shapes: Mapping[str, str] | None = None,
        detail_time_budget_s: float | None = DEFAULT_DETAIL_TIME_BUDGET_S,
    ) -> Overlay:
        """Create an anonymous overlay layer, the strongest session sublayer.

        ``meters_per_unit``/``up_axis`` default to the stage's own metadata.  With
        ``detail_time_budget_s`` None every sensor's detail is written in every flush().
        """
        if not Sdf.Path.IsValidPathString(root) or not Sdf.Path(root).IsRootPrimPath():
            raise ValueError(f"overlay root {root!r} must be an absolute root prim path like /COP")
        if not math.isfinite(marker_size_m) or marker_size_m <= 0:
            raise ValueError("marker_size_m must be a positive number of metres")
        if detail_time_budget_s is not None and not detail_time_budget_s >= 0:
            raise ValueError("detail_time_budget_s must be None or >= 0 seconds")
        if meters_per_unit is None:
            if not UsdGeom.StageHasAuthoredMetersPerUnit(stage):
                log.info("stage has no metersPerUnit; using USD's fallback (centimetres)")
            meters_per_unit = UsdGeom.GetStageMetersPerUnit(stage)
        if not meters_per_unit or not math.isfinite(meters_per_unit) or meters_per_unit <= 0:
            raise ValueError(f"invalid metersPerUnit {meters_per_unit!r}")
        up = str(up_axis or UsdGeom.GetStageUpAxis(stage)).upper()
        if up not in ("Y", "Z"):
            raise ValueError(f"up axis must be 'Y' or 'Z', not {up_axis!r}")
        layer = Sdf.Layer.CreateAnonymous("coptwin_overlay.usda")
        layer.pseudoRoot.SetInfo("upAxis", up)
        layer.pseudoRoot.SetInfo("metersPerUnit", float(meters_per_unit))
        overlay = cls(
            stage,
            layer,
            root,
            meters_per_unit,
            up,
            marker_size_m,
            marker_shapes,
            detail_time_budget_s,
        )
        with Sdf.ChangeBlock():
            for path in (overlay.root_path, overlay._sensors_path):
                spec = Sdf.CreatePrimInLayer(layer, path)
                spec.specifier = Sdf.SpecifierDef
                spec.typeName = "Xform"
        stage.GetSessionLayer().subLayerPaths.insert(0, layer.identifier)
        overlay._attached = True
        log.info("overlay %s attached (mpu=%g, up=%s)", layer.identifier, meters_per_unit, up)
        return overlay

    def detach(self) -> None:
        """Remove the overlay from the stage (its content stays exportable)."""
        if not self._attached:
            return
        paths = self._stage.GetSessionLayer().subLayerPaths
        if self.layer.identifier in list(paths):
            paths.remove(self.layer.identifier)
        self._attached = False

    # ------------------------------------------------------------------ properties

    @property
    def details_pending(self) -> int:
        """Sensors whose data prim is behind their marker (see the detail budget)."""
        return len(self._pending)

    # ------------------------------------------------------------------ layers

    def define_layers(self, layers: Iterable[tuple[str, str, bool]]) -> None:
        """Create sensor layers from ``(name, label, visible)``; existing layers get
        the new label and visibility."""
        with Sdf.ChangeBlock():
            for name, label, visible in layers:
                lay = self._layer_state(str(name))
                _text(lay.prim, "coptwin:label", str(label or name))
                self._set_visibility(lay, bool(visible))

    def set_layer_visible(self, name: str, visible: bool) -> None:
        """Show or hide every marker of a layer (``visibility`` on its Xform)."""
        lay = self._layers.get(name)
        if lay is None:
            raise KeyError(f"no sensor layer {name!r}; defined: {', '.join(self._layers)}")
        with Sdf.ChangeBlock():
            self._set_visibility(lay, visible)

    def _layer_state(self, name: str) -> _Layer:
        lay = self._layers.get(name)
        if lay is not None:
            return lay
        pname = prim_name(name, self._layer_names)
        self._layer_names.add(pname)
        with Sdf.ChangeBlock():
            prim = Sdf.PrimSpec(
                self.layer.GetPrimAtPath(self._sensors_path), pname, Sdf.SpecifierDef, "Xform"
            )
            lay = _Layer(name, prim)
            _text(prim, "coptwin:layer", name)
            vis = Sdf.AttributeSpec(prim, "visibility", _T.Token, _VARYING, False)
            vis.default = "inherited"
            lay.attrs["visibility"] = vis
            inst = lay.instancer = Sdf.PrimSpec(prim, "Markers", Sdf.SpecifierDef, "PointInstancer")
            lay.prototypes_scope = Sdf.PrimSpec(inst, "Prototypes", Sdf.SpecifierDef, "Scope")
            lay.sensors_scope = Sdf.PrimSpec(prim, "Sensors", Sdf.SpecifierDef, "Scope")
            lay.attrs["prototypes"] = Sdf.RelationshipSpec(inst, "prototypes", False)
            for key, attr, typ in (
                ("positions", "positions", _T.Point3fArray),
                ("colors", "primvars:displayColor", _T.Color3fArray),
                ("proto", "protoIndices", _T.IntArray),
                ("ids", "ids", _T.Int64Array),
                ("hidden", "invisibleIds", _T.Int64Array),
            ):
                lay.attrs[key] = Sdf.AttributeSpec(inst, attr, typ, _VARYING, False)
            # "vertex" on a PointInstancer = one value per instance
            lay.attrs["colors"].SetInfo("interpolation", "vertex")
            lay.dirty.update(_ARRAYS)
            self._flush_layer(lay)
        self._layers[name] = lay
        return lay

    def _set_visibility(self, lay: _Layer, visible: bool) -> None:
        lay.attrs["visibility"].default = "inherited" if visible else "invisible"

    def _proto_index(self, lay: _Layer, kind: str) -> int:
        idx = lay.kinds.get(kind)
        if idx is not None:
            return idx
        taken = {c.name for c in lay.prototypes_scope.nameChildren}
        size = self._marker_size_m / self.meters_per_unit
        proto = author_prototype(
            lay.prototypes_scope,
            prim_name(kind or "default", taken),
            shape_for(kind, self._marker_shapes),
            size,
            self.up_axis,
        )
        _text(proto, "coptwin:kind", kind)
        lay.attrs["prototypes"].targetPathList.explicitItems.append(proto.path)
        idx = lay.kinds[kind] = len(lay.kinds)
        return idx

    # ------------------------------------------------------------------ sensors

    def marker_path(self, sensor_id: str) -> Sdf.Path | None:
        """The data prim of a sensor (what Kit selects), or None if unknown."""
        st = self._sensors.get(sensor_id)
        return st.path if st else None

    def sensor_for_path(self, path: str | Sdf.Path) -> str | None:
        """The sensor id of a data prim path (or of any prim below it)."""
        p = Sdf.Path(str(path))
        while not p.isEmpty and p != Sdf.Path.absoluteRootPath:
            sensor_id = self._by_path.get(str(p))
            if sensor_id is not None:
                return sensor_id
            p = p.GetParentPath()
        return None

    def sensor_ids(self) -> list[str]:
        return list(self._sensors)

    def instancers(self) -> dict[str, str]:
        """Marker PointInstancer path -> sensor layer (what a viewport pick reports)."""
        return {
            str(lay.instancer.path): name
            for name, lay in self._layers.items()
            if lay.instancer is not None
        }

    def sensor_for_instance(self, layer: str, index: int) -> str | None:
        """The sensor shown by instance ``index`` of a layer's PointInstancer."""
        lay = self._layers.get(layer)
        if lay is None or not 0 <= index < lay.n:
            return None
        return lay.sensor_ids[index]

    def _write_hidden(self, lay: _Layer) -> None:
        arr = np.fromiter(sorted(lay.unplaced), dtype=np.int64, count=len(lay.unplaced))
        lay.attrs["hidden"].default = Vt.Int64Array.FromNumpy(arr)

    def _register(self, sensor_id: str, layer: str) -> _Sensor:
        """Give a new sensor an instance slot; its data prim comes with the detail pass."""
        lay = self._layer_state(layer or "default")
        name = prim_name(sensor_id, lay.names)
        lay.names.add(name)
        sid = stable_id(sensor_id)
        while sid in self._sids:  # 63-bit hash collision: practically never, still handled
            sid = (sid + 1) & 0x7FFF_FFFF_FFFF_FFFF
        self._sids.add(sid)
        st = _Sensor(sensor_id, lay, lay.add(sensor_id, sid), sid, name)
        self._sensors[sensor_id] = st
        self._by_path[str(st.path)] = sensor_id
        return st

    # ------------------------------------------------------------------ staging

    def stage_batch(self, batch: MarkerBatch) -> None:
        """Take a batch (any thread, no USD writes): patch the marker arrays and queue
        each row's detail; rows that need new USD structure wait for :meth:`flush`.

        Known sensors cost a dict lookup and a list append each.  The batch belongs
        to the overlay from now on (queued rows refer into it).
        """
        with self._lock:
            staged = self._staged
            staged.updates += len(batch)
            sensors_get = self._sensors.get
            ids, kinds = batch.sensor_ids, batch.kinds
            known: list[int] = []
            fresh: list[int] = []
            for i, st in enumerate([sensors_get(sid) for sid in ids]):
                if st is None:
                    sid = ids[i]
                    if not sid or not isinstance(sid, str):
                        staged.skipped["empty_sensor_id"] += 1
                    else:
                        fresh.append(i)
                elif kinds[i] and kinds[i] != st.kind and kinds[i] not in st.layer.kinds:
                    fresh.append(i)  # a marker kind this layer has no prototype for yet
                else:
                    known.append(i)
            if fresh:
                self._needs_structure.append((batch, fresh))
            self._stage_rows(batch, known, staged.skipped)

    def _stage_rows(self, batch: MarkerBatch, rows: list[int], skipped: Counter[str]) -> None:
        """Patch colours, prototypes and positions of known sensors; queue their details."""
        if not rows:
            return
        sensors = self._sensors
        ids, kinds, layers = batch.sensor_ids, batch.kinds, batch.layers
        by_layer: dict[_Layer, tuple[list[int], list[int]]] = {}
        for i in rows:
            st = sensors[ids[i]]
            lay = st.layer
            slots = by_layer.get(lay)
            if slots is None:
                slots = by_layer[lay] = ([], [])
            slots[0].append(i)
            slots[1].append(st.index)
            kind = kinds[i]
            if kind != st.kind and (kind or st.kind is None):
                st.kind = kind
                lay.proto[st.index] = self._proto_index(lay, kind)
                lay.dirty.add("proto")
            if layers[i] != lay.name and layers[i]:
                self._warn_once("layer_changed", ids[i], "keeps its first layer %r", lay.name)
        colors = batch.colors
        for lay, (batch_rows, slots) in by_layer.items():
            rows_arr = np.asarray(batch_rows, dtype=np.int64)
            ok = np.isfinite(colors[rows_arr]).all(axis=1)
            if not ok.all():
                skipped["bad_color"] += int((~ok).sum())
            lay.colors[np.asarray(slots, dtype=np.int64)[ok]] = colors[rows_arr[ok]]
            lay.dirty.add("colors")
        if batch.positions:
            self._stage_positions(batch, rows, skipped)
        self._pending.update((ids[i], (batch, i)) for i in rows)

    def _stage_positions(self, batch: MarkerBatch, rows: list[int], skipped: Counter[str]) -> None:
        positions, ids, sensors = batch.positions, batch.sensor_ids, self._sensors
        moved: dict[_Layer, tuple[list[int], list[Position]]] = {}
        for i in rows:
            pos = positions.get(ids[i])
            if pos is None:
                continue
            if not _finite3(pos):
                skipped["bad_position"] += 1
                continue
            st = sensors[ids[i]]
            st.position = (float(pos[0]), float(pos[1]), float(pos[2]))
            slots, values = moved.setdefault(st.layer, ([], []))
            slots.append(st.index)
            values.append(st.position)
        for lay, (slots, values) in moved.items():
            lay.positions[np.asarray(slots, dtype=np.int64)] = np.asarray(values, dtype=np.float32)
            lay.dirty.add("positions")
            if lay.unplaced:
                placed = {int(sid) for sid in lay.ids[slots]} & lay.unplaced
                if placed:
                    lay.unplaced -= placed
                    lay.dirty.add("hidden")

    # ------------------------------------------------------------------ flush

    def flush(self) -> OverlayStats:
        """Stage-thread half: new structure, changed instancer arrays, then the detail
        pass within its budget.  Reports everything staged since the last flush; cheap
        when nothing was staged."""
        with self._lock, Sdf.ChangeBlock():
            stats, self._staged = self._staged, OverlayStats()
            fresh, self._needs_structure = self._needs_structure, []
            for batch, rows in fresh:
                for i in rows:
                    sid = batch.sensor_ids[i]
                    if sid not in self._sensors:
                        self._register(sid, batch.layers[i])
                        stats.created += 1
                self._stage_rows(batch, rows, stats.skipped)
            for lay in self._layers.values():
                if lay.dirty:
                    self._flush_layer(lay)
            self._detail_pass(stats, self.detail_time_budget_s)
        if stats.skipped:
            log.warning(
                "overlay: skipped %s in %d updates",
                ", ".join(f"{k} {r}" for r, k in sorted(stats.skipped.items())),
                stats.updates,
            )
        return stats

    def flush_details(self) -> OverlayStats:
        """Write every queued sensor detail now, whatever the budget."""
        stats = OverlayStats()
        with self._lock, Sdf.ChangeBlock():
            self._detail_pass(stats, None)
        return stats

    def _flush_layer(self, lay: _Layer) -> None:
        n, attrs, dirty = lay.n, lay.attrs, lay.dirty
        if "positions" in dirty:
            attrs["positions"].default = Vt.Vec3fArray.FromNumpy(lay.positions[:n])
        if "colors" in dirty:
            attrs["colors"].default = Vt.Vec3fArray.FromNumpy(lay.colors[:n])
        if "proto" in dirty:
            attrs["proto"].default = Vt.IntArray.FromNumpy(lay.proto[:n])
        if "ids" in dirty:
            attrs["ids"].default = Vt.Int64Array.FromNumpy(lay.ids[:n])
        if "hidden" in dirty:
            self._write_hidden(lay)
        dirty.clear()

    # ------------------------------------------------------------------ detail pass

    def _detail_pass(self, stats: OverlayStats, seconds: float | None) -> None:
        pending = self._pending
        deadline = None if seconds is None else time.perf_counter() + seconds
        writes = done = units = 0
        sensors = self._sensors
        while pending:
            sensor_id, (batch, i) = pending.popitem(last=False)
            st = sensors[sensor_id]
            # creating a data prim costs about ten updates: count it so in the floor
            units += _CREATE_UNITS if st.prim is None else 1
            writes += self._write_detail(st, batch, i, stats.skipped)
            done += 1
            if (
                deadline is not None
                and units >= DETAIL_FLOOR
                and done & 15 == 0
                and time.perf_counter() > deadline
            ):
                break
        stats.details_written += done
        stats.details_pending = len(pending)
        stats.attribute_writes += writes

    def _write_detail(self, st: _Sensor, b: MarkerBatch, i: int, skipped: Counter[str]) -> int:
        """Row ``i`` of ``b`` on the sensor's data prim (created on first use) and on
        its bound building."""
        specs, written = st.specs, st.written
        writes = 0
        if st.prim is None:
            st.prim = Sdf.PrimSpec(st.layer.sensors_scope, st.name, Sdf.SpecifierDef, "Xform")
            _text(st.prim, "coptwin:sensorId", st.sensor_id)
            writes += 1
        pos = st.position  # the data prim follows the marker
        if pos is not None and pos != written.get("pos"):
            spec = specs.get("pos")
            if spec is None:
                spec = specs["pos"] = _translate_op(st.prim)
            spec.default = Gf.Vec3d(*pos)
            written["pos"] = pos
            writes += 1
        color = b.colors[i]
        if np.isfinite(color).all():
            color = (float(color[0]), float(color[1]), float(color[2]))
            if color != written.get("color"):
                spec = specs.get("color")
                if spec is None:
                    spec = Sdf.AttributeSpec(st.prim, "primvars:displayColor", _T.Color3fArray)
                    spec.SetInfo("interpolation", "constant")
                    specs["color"] = spec
                spec.default = Vt.Vec3fArray([Gf.Vec3f(*color)])
                written["color"] = color
                writes += 1
        value = b.values[i]
        if value is not None:
            if isinstance(value, int | float) and math.isfinite(value):
                writes += self._put(st, "coptwin:value", _T.Double, float(value))
            else:
                skipped["bad_value"] += 1
                value = None
        ts_text = ""
        ts = b.ts[i]
        if ts is not None:
            ts_text = self._iso(ts)
            writes += self._put(st, "coptwin:ts", _T.String, ts_text)
        status = b.statuses[i]
        writes += self._put(st, "coptwin:status", _T.String, status)
        kind = st.kind or ""
        texts = (kind, b.units[i], b.quantities[i], b.placements[i])
        if written.get("texts") != texts:  # rarely changes: one compare for four attributes
            written["texts"] = texts
            for key, text in zip(_TEXT_ATTRS, texts, strict=True):
                writes += self._put(st, key, _T.String, text)
        bound = b.bound_prims[i]
        if st.bound and st.bound != bound:
            writes += self._buildings.unbind(st.sensor_id, st.bound, skipped)
            st.bound = ""
        if bound:
            if st.bound != bound:
                st.bound = bound
                writes += self._put(st, "coptwin:boundPrim", _T.String, bound)
            writes += self._buildings.update(
                st.sensor_id,
                bound,
                status,
                b.quantities[i],
                value,
                ts_text,
                b.building_attrs.get(st.sensor_id) or {},
                skipped,
            )
        return writes

    def _put(self, st: _Sensor, name: str, typ: Any, value: Any) -> int:
        if st.written.get(name) == value:
            return 0
        spec = st.specs.get(name)
        if spec is None:
            spec = st.specs[name] = Sdf.AttributeSpec(st.prim, name, typ, _VARYING, True)
        spec.default = value
        st.written[name] = value
        return 1

    def _iso(self, ts: datetime | str) -> str:
        """iso_utc with a one-entry cache: a batch often shares one timestamp."""
        if isinstance(ts, str):
            return ts
        if ts != self._ts_key:
            self._ts_key, self._ts_text = ts, iso_utc(ts)
        return self._ts_text

    # ------------------------------------------------------------------ output

    def export(self, path: str | Path) -> Path:
        """Flush queued details, then write the overlay layer to ``path``."""
        self.flush_details()
        return write_layer(self.layer, path)  # atomic, see coptwin.scene.layer_file

    def _warn_once(self, what: str, key: str, msg: str, *args: Any) -> None:
        if (what, key) not in self._warned:
            self._warned.add((what, key))
            log.warning("overlay: %s " + msg, key, *args)


def _finite3(v: Any) -> bool:
    """Three finite numbers? (``x - x`` is NaN, hence truthy, for NaN and inf.)"""
    try:
        x, y, z = v
        return not (x - x or y - y or z - z)
    except (TypeError, ValueError):
        return False


def _text(prim: Sdf.PrimSpec, name: str, value: str) -> None:
    spec = prim.attributes.get(name) or Sdf.AttributeSpec(prim, name, _T.String, _VARYING, True)
    spec.default = value


def _translate_op(prim: Sdf.PrimSpec) -> Sdf.AttributeSpec:
    """``xformOp:translate`` (double: city coordinates need it) and its op order."""
    order = Sdf.AttributeSpec(prim, "xformOpOrder", _T.TokenArray, _UNIFORM, False)
    order.default = Vt.TokenArray(["xformOp:translate"])
    return Sdf.AttributeSpec(prim, "xformOp:translate", _T.Double3, _VARYING, False)
