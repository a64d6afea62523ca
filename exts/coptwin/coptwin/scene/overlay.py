"""The USD overlay: live sensor markers and attributes in a layer of their own.

Why a session sublayer: the base scene (a CityEngine export can take hours to make) is
never written; the session layer is the strongest place on a stage, so every opinion
authored here wins over the scene, and removing the sublayer removes the COP.

Why two passes: a tick may change 10,000 sensors and must stay far below 100 ms, yet
every attribute written costs a few microseconds in Sdf plus one change notice on the
stage.  ``apply()`` therefore, inside one ``Sdf.ChangeBlock``,

1. *marker pass* (every update, cheap): patches per-layer numpy arrays (positions,
   colours, prototype indices, ids) through a sensor -> index map and writes each
   PointInstancer array once — what the viewport shows is always current;
2. *detail pass* (per-sensor data prims and bound buildings): writes only values that
   changed, through cached AttributeSpecs.  Two budgets cap this pass per call:
   ``detail_time_budget_s`` (wall time, default 20 ms, applied only after ``detail_min``
   = 500 units of work, a unit being one update and a new data prim ten, so small ticks
   are always complete and deterministic) and ``detail_budget`` (a count).  The
   rest wait in a queue (coalesced, latest wins, oldest first) for the next call,
   :meth:`Overlay.flush_details` or :meth:`export`.

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from pxr import Gf, Sdf, Usd, UsdGeom, Vt

from coptwin.scene.buildingattrs import BuildingAttrs
from coptwin.scene.coproot import write_cop_root
from coptwin.scene.markers import author_prototype, shape_for
from coptwin.scene.naming import iso_utc, prim_name, stable_id

log = logging.getLogger(__name__)

__all__ = ["ApplyStats", "MarkerBatch", "MarkerUpdate", "Overlay", "iso_utc", "write_cop_root"]

_T = Sdf.ValueTypeNames
_VARYING = Sdf.VariabilityVarying
_UNIFORM = Sdf.VariabilityUniform
_DEFAULT_COLOR = (0.6, 0.6, 0.6)
_ARRAYS = ("positions", "colors", "proto", "ids", "hidden")
_TEXT_ATTRS = ("coptwin:kind", "coptwin:unit", "coptwin:quantity", "coptwin:placement")
#: Wall time the detail pass may take per apply() by default; see the module docstring.
DEFAULT_DETAIL_TIME_BUDGET_S = 0.020
#: Detail updates always written per apply(), whatever the time budget (a new data
#: prim counts as ten).
DEFAULT_DETAIL_MIN = 500
_CREATE_UNITS = 10


@dataclass(slots=True)
class MarkerUpdate:
    """What one sensor looks like now.

    ``None`` fields (and an empty ``kind``) keep the previous value; the other fields
    are the sensor's current state and are written as given.
    """

    sensor_id: str
    layer: str
    kind: str = ""
    #: (x, y, z) in stage units, or None to keep the marker where it is.
    position: tuple[float, float, float] | None = None
    color: tuple[float, float, float] | None = None
    status: str = "unknown"
    value: float | None = None
    unit: str = ""
    #: datetime (naive = UTC) or ready ISO-8601 text; None keeps the previous one.
    ts: datetime | str | None = None
    quantity: str = ""
    placement: str = "exact"
    #: "" or the prim path of the building the sensor is bound to.
    bound_prim: str = ""
    #: Extra attributes for the bound building (keys get the ``coptwin:`` namespace).
    building_attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class MarkerBatch:
    """Many sensors' current state as columns (what the engine hands over per tick).

    Equivalent to one :class:`MarkerUpdate` per row, without building them: the
    overlay patches its marker arrays from the columns and materialises a
    :class:`MarkerUpdate` only for the rows its detail pass gets to (a few hundred
    per tick within the main-thread budget, out of up to 100k).  ``positions`` and
    ``building_attrs`` are sparse (only moved sensors / bound sensors).
    """

    sensor_ids: list[str]
    layers: list[str]
    kinds: list[str]
    statuses: list[str]
    #: (N, 3) float32 linear colours
    colors: np.ndarray
    values: list[float | None]
    units: list[str]
    ts: list[datetime | str | None]
    quantities: list[str]
    placements: list[str]
    bound_prims: list[str]
    positions: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    building_attrs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sensor_ids)

    def update(self, i: int, position: tuple[float, float, float] | None = None) -> MarkerUpdate:
        """Row ``i`` as a :class:`MarkerUpdate` (``position``: where the marker is now)."""
        sid = self.sensor_ids[i]
        return MarkerUpdate(
            sid,
            self.layers[i],
            self.kinds[i],
            self.positions.get(sid, position),
            tuple(float(c) for c in self.colors[i]),  # type: ignore[arg-type]
            self.statuses[i],
            self.values[i],
            self.units[i],
            self.ts[i],
            self.quantities[i],
            self.placements[i],
            self.bound_prims[i],
            dict(self.building_attrs.get(sid) or {}),
        )


@dataclass
class ApplyStats:
    """What one ``apply()`` did; ``skipped`` counts bad input per reason."""

    updates: int = 0
    created: int = 0
    details_written: int = 0
    details_pending: int = 0
    attribute_writes: int = 0
    layers_written: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    #: wall time of the marker pass, the detail pass and the stage's change processing
    seconds_markers: float = 0.0
    seconds_details: float = 0.0
    seconds_notify: float = 0.0


class _Layer:
    """One sensor layer: its prims and the PointInstancer arrays, grown by doubling."""

    def __init__(self, name: str, prim: Sdf.PrimSpec) -> None:
        self.name = name
        self.prim = prim
        self.instancer: Sdf.PrimSpec | None = None
        self.sensors_scope: Sdf.PrimSpec | None = None
        self.prototypes_scope: Sdf.PrimSpec | None = None
        self.kinds: dict[str, int] = {}
        self.sensor_ids: list[str] = []
        self.names: set[str] = set()
        #: ids hidden by the user / not placed yet; invisibleIds is their union
        self.hidden: set[int] = set()
        self.unplaced: set[int] = set()
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
        self.sensor_ids.append(sensor_id)
        self.ids[i] = sid
        self.colors[i] = _DEFAULT_COLOR
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
        detail_budget: int | None,
        detail_time_budget_s: float | None,
    ) -> None:
        self._stage = stage
        self._layer = layer
        self._root = Sdf.Path(root)
        self._sensors_path = self._root.AppendChild("Sensors")
        self._mpu = float(meters_per_unit)
        self._up = up_axis
        self._marker_size_m = float(marker_size_m)
        self._marker_shapes = dict(marker_shapes or {})
        #: max sensors whose detail is written per apply() (None: no count limit)
        self.detail_budget = detail_budget
        #: max seconds the detail pass may take per apply() (None: no time limit)
        self.detail_time_budget_s = detail_time_budget_s
        #: details always written per apply() before the time budget is looked at
        self.detail_min = DEFAULT_DETAIL_MIN
        self._layers: dict[str, _Layer] = {}
        self._layer_names: set[str] = set()
        self._sensors: dict[str, _Sensor] = {}
        self._by_path: dict[str, str] = {}
        self._sids: set[int] = set()
        #: detail writes waiting for the budget: a MarkerUpdate or (MarkerBatch, row)
        self._pending: OrderedDict[str, MarkerUpdate | tuple[MarkerBatch, int]] = OrderedDict()
        #: staged updates that need new USD structure, written by flush()
        self._needs_structure: list[MarkerUpdate] = []
        #: stage() (worker thread) and flush() (stage thread) share the bookkeeping
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
        layer_path: str | Path | None = None,
        marker_size_m: float = 3.0,
        marker_shapes: Mapping[str, str] | None = None,
        detail_budget: int | None = None,
        detail_time_budget_s: float | None = DEFAULT_DETAIL_TIME_BUDGET_S,
    ) -> Overlay:
        """Create the overlay layer and insert it as the strongest session sublayer.

        ``meters_per_unit``/``up_axis`` default to the stage's own metadata.
        ``layer_path`` makes the layer file-backed (the file is replaced); it must not be
        a layer the stage already uses.  With both ``detail_budget`` and
        ``detail_time_budget_s`` None every sensor's detail is written in every apply().
        """
        if not Sdf.Path.IsValidPathString(root) or not Sdf.Path(root).IsRootPrimPath():
            raise ValueError(f"overlay root {root!r} must be an absolute root prim path like /COP")
        if not math.isfinite(marker_size_m) or marker_size_m <= 0:
            raise ValueError("marker_size_m must be a positive number of metres")
        if detail_budget is not None and detail_budget < 1:
            raise ValueError("detail_budget must be None or at least 1")
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
        layer = cls._new_layer(stage, layer_path)
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
            detail_budget,
            detail_time_budget_s,
        )
        with Sdf.ChangeBlock():
            for path in (overlay._root, overlay._sensors_path):
                spec = Sdf.CreatePrimInLayer(layer, path)
                spec.specifier = Sdf.SpecifierDef
                spec.typeName = "Xform"
        stage.GetSessionLayer().subLayerPaths.insert(0, layer.identifier)
        overlay._attached = True
        log.info("overlay %s attached (mpu=%g, up=%s)", layer.identifier, meters_per_unit, up)
        return overlay

    @staticmethod
    def _new_layer(stage: Usd.Stage, layer_path: str | Path | None) -> Sdf.Layer:
        if layer_path is None:
            return Sdf.Layer.CreateAnonymous("coptwin_overlay.usda")
        target = Path(layer_path).absolute()
        used = {Path(lyr.realPath).resolve() for lyr in stage.GetUsedLayers() if lyr.realPath}
        if target.resolve() in used:
            raise ValueError(f"{target}: refusing to use a layer of the scene as the overlay")
        target.parent.mkdir(parents=True, exist_ok=True)
        existing = Sdf.Layer.Find(str(target))
        if existing is not None:
            existing.Clear()
            return existing
        layer = Sdf.Layer.CreateNew(str(target))
        if layer is None:
            raise OSError(f"{target}: cannot create the overlay layer")
        return layer

    def detach(self) -> None:
        """Remove the overlay from the stage (its content stays exportable)."""
        if not self._attached:
            return
        paths = self._stage.GetSessionLayer().subLayerPaths
        if self._layer.identifier in list(paths):
            paths.remove(self._layer.identifier)
        self._attached = False

    # ------------------------------------------------------------------ properties

    @property
    def layer(self) -> Sdf.Layer:
        return self._layer

    @property
    def root_path(self) -> Sdf.Path:
        return self._root

    @property
    def stage(self) -> Usd.Stage:
        return self._stage

    @property
    def meters_per_unit(self) -> float:
        return self._mpu

    @property
    def up_axis(self) -> str:
        return self._up

    @property
    def attached(self) -> bool:
        return self._attached

    @property
    def sensor_count(self) -> int:
        return len(self._sensors)

    @property
    def details_pending(self) -> int:
        """Sensors whose data prim is behind their marker (see ``detail_budget``)."""
        return len(self._pending)

    # ------------------------------------------------------------------ layers

    def define_layers(self, layers: Iterable[Any]) -> None:
        """Create sensor layers from ``(name, label, visible)`` tuples (or objects with
        ``name``/``label``/``visible``); existing layers get the new label/visibility."""
        with Sdf.ChangeBlock():
            for item in layers:
                if isinstance(item, tuple | list):
                    name, label, visible = (list(item) + [None, True])[:3]
                else:
                    name = item.name
                    label, visible = getattr(item, "label", name), getattr(item, "visible", True)
                lay = self._layer_state(str(name))
                _text(lay.prim, "coptwin:label", str(label or name))
                self._set_visibility(lay, bool(visible))

    def layer_names(self) -> list[str]:
        return list(self._layers)

    def set_layer_visible(self, name: str, visible: bool) -> None:
        """Show or hide every marker of a layer (``visibility`` on its Xform)."""
        lay = self._layers.get(name)
        if lay is None:
            raise KeyError(f"no sensor layer {name!r}; defined: {', '.join(self._layers)}")
        with Sdf.ChangeBlock():
            self._set_visibility(lay, visible)

    def layer_path(self, name: str) -> Sdf.Path:
        return self._layer_state(name).prim.path

    def instancer_path(self, name: str) -> Sdf.Path:
        return self._layer_state(name).instancer.path

    def _layer_state(self, name: str) -> _Layer:
        lay = self._layers.get(name)
        if lay is not None:
            return lay
        pname = prim_name(name, self._layer_names)
        self._layer_names.add(pname)
        with Sdf.ChangeBlock():
            prim = Sdf.PrimSpec(
                self._layer.GetPrimAtPath(self._sensors_path), pname, Sdf.SpecifierDef, "Xform"
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
        size = self._marker_size_m / self._mpu
        proto = author_prototype(
            lay.prototypes_scope,
            prim_name(kind or "default", taken),
            shape_for(kind, self._marker_shapes),
            size,
            self._up,
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

    def sensor_for_instance(self, layer: str, index: int) -> str | None:
        """The sensor shown by instance ``index`` of a layer's PointInstancer."""
        lay = self._layers.get(layer)
        if lay is None or not 0 <= index < lay.n:
            return None
        return lay.sensor_ids[index]

    def instance_index(self, sensor_id: str) -> tuple[str, int] | None:
        st = self._sensors.get(sensor_id)
        return (st.layer.name, st.index) if st else None

    def sensor_ids(self) -> list[str]:
        return list(self._sensors)

    def set_sensor_hidden(self, sensor_id: str, hidden: bool) -> None:
        """Hide/show one marker through the instancer's ``invisibleIds``."""
        st = self._sensors.get(sensor_id)
        if st is None:
            raise KeyError(f"unknown sensor {sensor_id!r}")
        lay = st.layer
        if hidden == (st.sid in lay.hidden):
            return
        if hidden:
            lay.hidden.add(st.sid)
        else:
            lay.hidden.discard(st.sid)
        with Sdf.ChangeBlock():
            self._write_hidden(lay)

    def _write_hidden(self, lay: _Layer) -> None:
        ids = lay.hidden | lay.unplaced
        arr = np.fromiter(sorted(ids), dtype=np.int64, count=len(ids))
        lay.attrs["hidden"].default = Vt.Int64Array.FromNumpy(arr)

    def _register(self, u: MarkerUpdate) -> _Sensor:
        """Give a new sensor an instance slot; its data prim comes with the detail pass."""
        lay = self._layer_state(u.layer or "default")
        name = prim_name(u.sensor_id, lay.names)
        lay.names.add(name)
        sid = stable_id(u.sensor_id)
        while sid in self._sids:  # 63-bit hash collision: practically never, still handled
            sid = (sid + 1) & 0x7FFF_FFFF_FFFF_FFFF
        self._sids.add(sid)
        st = _Sensor(u.sensor_id, lay, lay.add(u.sensor_id, sid), sid, name)
        lay.unplaced.add(sid)  # no marker at the origin before the first position
        self._sensors[u.sensor_id] = st
        self._by_path[str(st.path)] = u.sensor_id
        return st

    # ------------------------------------------------------------------ apply

    def apply(self, updates: Sequence[MarkerUpdate]) -> ApplyStats:
        """Author the given sensors' current state; nothing else is touched.

        The updates are handed over: the overlay may complete them in place while
        they wait for the detail pass.  Same as :meth:`stage_updates` then :meth:`flush`.
        """
        stats = self.stage_updates(updates)
        flushed = self.flush()
        stats.created += flushed.created
        stats.details_written = flushed.details_written
        stats.details_pending = flushed.details_pending
        stats.attribute_writes += flushed.attribute_writes
        stats.layers_written = flushed.layers_written
        stats.skipped.update(flushed.skipped)
        stats.seconds_markers += flushed.seconds_markers
        stats.seconds_details, stats.seconds_notify = (
            flushed.seconds_details,
            flushed.seconds_notify,
        )
        return stats

    def stage_updates(self, updates: Sequence[MarkerUpdate]) -> ApplyStats:
        """Worker-thread half of :meth:`apply`: bookkeeping and array patches, no USD.

        Kit's engine calls this off the main thread so that the main thread only
        pays for :meth:`flush`.  Updates that need new USD structure (a sensor,
        layer or marker kind seen for the first time) wait for :meth:`flush`.
        """
        t0 = time.perf_counter()
        with self._lock:
            stats = ApplyStats(updates=len(updates))
            sensors_get = self._sensors.get
            known: list[MarkerUpdate] = []
            for u in updates:
                st = sensors_get(u.sensor_id)
                if st is None or (u.kind and u.kind != st.kind and u.kind not in st.layer.kinds):
                    self._needs_structure.append(u)
                else:
                    known.append(u)
            self._mark(known, stats)
        stats.seconds_markers = time.perf_counter() - t0
        self._log_skips(stats, len(updates))
        return stats

    def stage_batch(self, batch: MarkerBatch) -> ApplyStats:
        """:meth:`stage_updates` for a columnar batch (worker thread, no USD writes).

        Known sensors cost a dict lookup and a list append each; their detail waits
        in the queue as a reference into the batch (newest wins: positions and
        colours are read back from the marker arrays when it is written).
        """
        t0 = time.perf_counter()
        with self._lock:
            stats = ApplyStats(updates=len(batch))
            sensors_get = self._sensors.get
            ids, kinds = batch.sensor_ids, batch.kinds
            rows_by_layer: dict[_Layer, list[int]] = {}
            known: list[int] = []
            for i, st in enumerate([sensors_get(sid) for sid in ids]):
                if st is None or (kinds[i] and kinds[i] != st.kind):
                    self._needs_structure.append(batch.update(i))
                    continue
                known.append(i)
                rows = rows_by_layer.get(st.layer)
                if rows is None:
                    rows = rows_by_layer[st.layer] = []
                rows.append(i)
            sensors = self._sensors
            for lay, rows in rows_by_layer.items():
                idx = np.fromiter(
                    (sensors[ids[i]].index for i in rows), dtype=np.int64, count=len(rows)
                )
                lay.colors[idx] = batch.colors[rows]
                lay.dirty.add("colors")
            if batch.positions:
                pi: dict[_Layer, tuple[list[int], list[Any]]] = {}
                for sid, pos in batch.positions.items():
                    st = sensors_get(sid)
                    if st is None:
                        continue
                    if not _finite3(pos):
                        stats.skipped["bad_position"] += 1
                        continue
                    idx_l, pos_l = pi.setdefault(st.layer, ([], []))
                    idx_l.append(st.index)
                    pos_l.append(pos)
                for lay, (idx_l, pos_l) in pi.items():
                    self._patch_layer(lay, idx_l, pos_l, [], [])
            # A row carries everything a queued update would (kind, layer, placement,
            # binding, all of a bound sensor's quantities) but the position, which is
            # read back from the marker array: newest wins, nothing to merge.
            self._pending.update((ids[i], (batch, i)) for i in known)
        stats.seconds_markers = time.perf_counter() - t0
        self._log_skips(stats, len(batch))
        return stats

    def flush(self) -> ApplyStats:
        """Stage-thread half of :meth:`apply`: new structure, changed instancer arrays,
        then the detail pass within its budget.  Cheap when nothing was staged."""
        stats = ApplyStats()
        t0 = time.perf_counter()
        with self._lock, Sdf.ChangeBlock():
            fresh, self._needs_structure = self._needs_structure, []
            if fresh:
                stats.updates = len(fresh)
                self._mark(fresh, stats)
            for lay in self._layers.values():
                if lay.dirty:
                    self._flush_layer(lay)
                    stats.layers_written += 1
            t1 = time.perf_counter()
            self._detail_pass(stats, self.detail_budget, self.detail_time_budget_s)
            t2 = time.perf_counter()
        t3 = time.perf_counter()
        stats.seconds_markers, stats.seconds_details, stats.seconds_notify = (
            t1 - t0,
            t2 - t1,
            t3 - t2,
        )
        if fresh:
            self._log_skips(stats, len(fresh))
        return stats

    def _log_skips(self, stats: ApplyStats, n: int) -> None:
        if stats.skipped:
            log.warning(
                "overlay: skipped %s in %d updates",
                ", ".join(f"{k} {r}" for r, k in sorted(stats.skipped.items())),
                n,
            )

    def _mark(self, updates: Sequence[MarkerUpdate], stats: ApplyStats) -> None:
        """The hot loop (10k updates per tick in the benchmark): no Sdf calls, no numpy
        per update; registers new sensors (Sdf) only when called from :meth:`flush`."""
        pending = self._pending
        touched: dict[_Layer, tuple[list[int], list[Any], list[int], list[Any]]] = {}
        sensors_get = self._sensors.get
        pending_get = pending.get
        last_lay: _Layer | None = None
        pi = pv = ci = cv = []  # type: list[Any]
        for u in updates:
            sensor_id = u.sensor_id
            st = sensors_get(sensor_id)
            if st is None:
                if not sensor_id or not isinstance(sensor_id, str):
                    stats.skipped["empty_sensor_id"] += 1
                    continue
                st = self._register(u)
                stats.created += 1
            lay = st.layer
            if lay is not last_lay:
                last_lay = lay
                cols = touched.get(lay)
                if cols is None:
                    cols = touched[lay] = ([], [], [], [])
                pi, pv, ci, cv = cols
            if u.layer != lay.name and u.layer:
                self._warn_once("layer_changed", sensor_id, "keeps its first layer %r", lay.name)
            pos = u.position
            if pos is not None:
                if _finite3(pos):
                    pi.append(st.index)
                    pv.append(pos)
                else:
                    stats.skipped["bad_position"] += 1
                    u.position = None
            color = u.color
            if color is not None:
                if _finite3(color):
                    ci.append(st.index)
                    cv.append(color)
                else:
                    stats.skipped["bad_color"] += 1
                    u.color = None
            if u.kind != st.kind:
                if u.kind or st.kind is None:
                    st.kind = u.kind
                    lay.proto[st.index] = self._proto_index(lay, u.kind)
                    lay.dirty.add("proto")
                else:  # no kind given: keep the one it has
                    u.kind = st.kind
            old = pending_get(sensor_id)
            if isinstance(old, tuple):
                old = self._materialise(st, old)
            pending[sensor_id] = u if old is None else _merge(old, u)
        for lay, (pi, pv, ci, cv) in touched.items():
            self._patch_layer(lay, pi, pv, ci, cv)

    def flush_details(self) -> ApplyStats:
        """Write every queued sensor detail now, whatever the budget."""
        stats = ApplyStats()
        with self._lock, Sdf.ChangeBlock():
            self._detail_pass(stats, None, None)
        return stats

    def _patch_layer(
        self, lay: _Layer, pi: list[int], pv: list[Any], ci: list[int], cv: list[Any]
    ) -> None:
        if pi:
            idx = np.fromiter(pi, dtype=np.int64, count=len(pi))
            lay.positions[idx] = np.asarray(pv, dtype=np.float32)
            lay.dirty.add("positions")
            if lay.unplaced:
                placed = {int(lay.ids[i]) for i in pi} & lay.unplaced
                if placed:
                    lay.unplaced -= placed
                    lay.dirty.add("hidden")
        if ci:
            idx = np.fromiter(ci, dtype=np.int64, count=len(ci))
            lay.colors[idx] = np.asarray(cv, dtype=np.float32)
            lay.dirty.add("colors")

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

    def _materialise(self, st: _Sensor, ref: tuple[MarkerBatch, int]) -> MarkerUpdate:
        """A queued batch row as a full update, at the marker's current position
        (a row only carries positions of sensors that moved in that batch; the data
        prim follows the marker, rewritten only when it differs)."""
        batch, i = ref
        lay = st.layer
        pos = None
        if st.sid not in lay.unplaced:
            pos = tuple(float(v) for v in lay.positions[st.index])
        return batch.update(i, pos)  # type: ignore[arg-type]

    def _detail_pass(self, stats: ApplyStats, budget: int | None, seconds: float | None) -> None:
        pending = self._pending
        count = len(pending) if budget is None else min(budget, len(pending))
        deadline = None if seconds is None else time.perf_counter() + seconds
        floor = self.detail_min
        writes = done = units = 0
        sensors = self._sensors
        while done < count:
            sensor_id, u = pending.popitem(last=False)
            st = sensors[sensor_id]
            if isinstance(u, tuple):
                u = self._materialise(st, u)
            # creating a data prim costs about ten updates: count it so in the floor
            units += _CREATE_UNITS if st.prim is None else 1
            writes += self._write_detail(st, u, stats.skipped)
            done += 1
            if (
                deadline is not None
                and units >= floor
                and done & 15 == 0
                and time.perf_counter() > deadline
            ):
                break
        stats.details_written += done
        stats.details_pending = len(pending)
        stats.attribute_writes += writes

    def _write_detail(self, st: _Sensor, u: MarkerUpdate, skipped: Counter[str]) -> int:
        """The sensor's data prim (created on first use) and its bound building."""
        specs, written = st.specs, st.written
        writes = 0
        if st.prim is None:
            st.prim = Sdf.PrimSpec(st.layer.sensors_scope, st.name, Sdf.SpecifierDef, "Xform")
            _text(st.prim, "coptwin:sensorId", st.sensor_id)
            writes += 1
        pos = u.position
        if pos is not None and pos != written.get("pos"):
            spec = specs.get("pos")
            if spec is None:
                spec = specs["pos"] = _translate_op(st.prim)
            spec.default = Gf.Vec3d(*pos)
            written["pos"] = pos
            writes += 1
        color = u.color
        if color is not None and color != written.get("color"):
            spec = specs.get("color")
            if spec is None:
                spec = Sdf.AttributeSpec(st.prim, "primvars:displayColor", _T.Color3fArray)
                spec.SetInfo("interpolation", "constant")
                specs["color"] = spec
            spec.default = Vt.Vec3fArray([Gf.Vec3f(*color)])
            written["color"] = color
            writes += 1
        value = u.value
        if value is not None:
            if isinstance(value, int | float) and math.isfinite(value):
                writes += self._put(st, "coptwin:value", _T.Double, float(value))
            else:
                skipped["bad_value"] += 1
        ts_text = ""
        if u.ts is not None:
            ts_text = self._iso(u.ts)
            writes += self._put(st, "coptwin:ts", _T.String, ts_text)
        writes += self._put(st, "coptwin:status", _T.String, u.status)
        texts = (u.kind, u.unit, u.quantity, u.placement)
        if written.get("texts") != texts:  # rarely changes: one compare for four attributes
            written["texts"] = texts
            for key, text in zip(_TEXT_ATTRS, texts, strict=True):
                writes += self._put(st, key, _T.String, text)
        if st.bound and st.bound != u.bound_prim:
            writes += self._buildings.unbind(st.sensor_id, st.bound, skipped)
            st.bound = ""
        if u.bound_prim:
            if st.bound != u.bound_prim:
                st.bound = u.bound_prim
                writes += self._put(st, "coptwin:boundPrim", _T.String, u.bound_prim)
            writes += self._buildings.update(
                st.sensor_id,
                u.bound_prim,
                u.status,
                u.quantity,
                u.value,
                ts_text,
                u.building_attrs,
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
        target = Path(path).absolute()
        target.parent.mkdir(parents=True, exist_ok=True)
        if not self._layer.Export(str(target)):
            raise OSError(f"{target}: could not write the overlay")
        return target

    def save(self) -> None:
        """Save a file-backed overlay layer (``layer_path=``) in place."""
        if self._layer.anonymous:
            raise ValueError("anonymous overlay: use export(path)")
        self.flush_details()
        self._layer.Save()

    def reset(self) -> None:
        """Remove every sensor, marker and building attribute (layers stay defined)."""
        with Sdf.ChangeBlock():
            self._buildings.reset()
            for lay in self._layers.values():
                scope = lay.sensors_scope
                for child in list(scope.nameChildren):
                    del scope.nameChildren[child.name]
                lay.n = 0
                lay.sensor_ids.clear()
                lay.names.clear()
                lay.hidden.clear()
                lay.unplaced.clear()
                lay.dirty.update(_ARRAYS)
                self._flush_layer(lay)
        self._sensors.clear()
        self._by_path.clear()
        self._sids.clear()
        self._pending.clear()

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


def _merge(old: MarkerUpdate, new: MarkerUpdate) -> MarkerUpdate:
    """Coalesce two queued updates of one sensor: ``new`` wins, its None fields keep old.

    ``new`` is completed in place: updates handed to :meth:`Overlay.apply` belong to
    the overlay from then on, and copying 10k of them per tick (``dataclasses.replace``)
    was most of a sustained tick's main-thread time.
    """
    if new.position is None:
        new.position = old.position
    if new.color is None:
        new.color = old.color
    if new.value is None:
        new.value = old.value
    if new.ts is None:
        new.ts = old.ts
    if old.building_attrs and old.bound_prim == new.bound_prim:
        new.building_attrs = {**old.building_attrs, **new.building_attrs}
    return new


def _text(prim: Sdf.PrimSpec, name: str, value: str) -> None:
    spec = prim.attributes.get(name) or Sdf.AttributeSpec(prim, name, _T.String, _VARYING, True)
    spec.default = value


def _translate_op(prim: Sdf.PrimSpec) -> Sdf.AttributeSpec:
    """``xformOp:translate`` (double: city coordinates need it) and its op order."""
    order = Sdf.AttributeSpec(prim, "xformOpOrder", _T.TokenArray, _UNIFORM, False)
    order.default = Vt.TokenArray(["xformOp:translate"])
    return Sdf.AttributeSpec(prim, "xformOp:translate", _T.Double3, _VARYING, False)
