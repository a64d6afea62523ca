"""The USD overlay: live sensor markers and attributes in a layer of their own.

Why a session sublayer: the base scene (a CityEngine export can take hours to make) is
never written; the session layer is the strongest place on a stage, so every opinion
authored here wins over the scene, and removing the sublayer removes the COP.

One input shape: a :class:`MarkerBatch`, many sensors' current state as columns.
Why two passes: a tick may change 10,000 sensors and must stay far below 100 ms, yet
every attribute written costs a few microseconds in Sdf plus one change notice on the
stage.  So

1. :meth:`Overlay.stage_batch` (any thread, no USD) finds the batch's sensors with one
   join, patches per-layer numpy arrays (positions, colours, prototype indices) and
   queues each sensor's detail as a reference into the batch (newest wins; a sensor
   keeps its place in the queue).  Sensors of known layers and kinds get their
   instance here too; rows that need new USD structure (a layer or a marker kind seen
   for the first time) wait for the flush;
2. :meth:`Overlay.flush` (the thread that owns the stage), inside one ``Sdf.ChangeBlock``,
   creates that structure, writes the changed PointInstancer arrays -- only the chunks
   a tick touched: a layer's markers are split over PointInstancers of
   :data:`CHUNK` instances -- (what the viewport shows is always current), then the
   *detail pass*: per-sensor data prims and bound buildings, writing only values that
   changed through cached AttributeSpecs, until the flush has taken
   ``detail_time_budget_s`` of wall time -- counting what USD (and Kit's listeners)
   will spend on the notices of those writes when the change block closes, as
   measured in earlier flushes.  A queue of at most :data:`DETAIL_FLOOR` sensors is
   written at least :data:`DETAIL_FLOOR` units far whatever the time (a unit is one
   sensor, a new data prim ten), so small ticks are complete and deterministic.  The
   rest wait, oldest first, for the next flush, :meth:`Overlay.flush_details` or
   :meth:`Overlay.export`.

Layout (``root`` defaults to ``/COP``)::

    /COP/Sensors/<layer>                    Xform, visibility, coptwin:label
    /COP/Sensors/<layer>/Markers            PointInstancer (instances 0 .. CHUNK-1)
    /COP/Sensors/<layer>/Markers/Prototypes/<kind>
    /COP/Sensors/<layer>/Markers_<k>        PointInstancer (instances k*CHUNK ..), and
                                            its own Prototypes
    /COP/Sensors/<layer>/Sensors/<name>     Xform at the sensor, coptwin:* attributes
    /COP/Annotations                        owned by coptwin.scene.pins
    /<building prim>                        over: coptwin:<quantity>, coptwin:status, coptwin:ts
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pxr import Gf, Sdf, Usd, UsdGeom, Vt

from coptwin.scene.buildingattrs import BuildingAttrs
from coptwin.scene.coproot import write_cop_root
from coptwin.scene.layer_file import write_layer
from coptwin.scene.markers import author_prototype, shape_for
from coptwin.scene.naming import iso_utc, prim_name, stable_id

log = logging.getLogger(__name__)

__all__ = ["CHUNK", "MarkerBatch", "Overlay", "OverlayStats", "iso_utc", "write_cop_root"]

_T = Sdf.ValueTypeNames
_VARYING = Sdf.VariabilityVarying
_UNIFORM = Sdf.VariabilityUniform
_DEFAULT_COLOR = (0.6, 0.6, 0.6)
_ARRAYS = ("positions", "colors", "proto", "ids", "hidden")
_TEXT_ATTRS = ("coptwin:kind", "coptwin:unit", "coptwin:quantity", "coptwin:placement")
#: Wall time a flush() may take by default; see the module docstring.
DEFAULT_DETAIL_TIME_BUDGET_S = 0.020
#: Units of detail work always done per flush() while at most this many sensors are
#: queued, whatever the time budget: a tick of up to ~200 sensors is written completely
#: (a new data prim counts as ten).
DETAIL_FLOOR = 200
_CREATE_UNITS = 10
#: Instances per PointInstancer: a tick rewrites the arrays of the chunks it touched only.
CHUNK = 4096
#: A timestamp meaning "none" in MarkerBatch.ts (µs since the epoch).
NO_TS = np.iinfo(np.int64).min
#: Below this many rows a batch finds its sensors by dict lookups rather than a join.
_SMALL = 64
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

Position = tuple[float, float, float]


def _objects(values: Sequence[Any] | np.ndarray, n: int, default: Any, name: str) -> np.ndarray:
    """A batch column as an object array of ``n`` rows (``default`` when left empty)."""
    if isinstance(values, pl.Series):
        values = values.to_numpy()
    if len(values) == 0 and n:
        out = np.empty(n, dtype=object)
        out[:] = default
        return out
    if len(values) != n:
        raise ValueError(f"MarkerBatch.{name} has {len(values)} rows, not {n}")
    if isinstance(values, np.ndarray) and values.dtype == object:
        return values
    out = np.empty(n, dtype=object)
    out[:] = list(values)
    return out


def _micros(value: Any) -> int:
    """µs since the epoch of a datetime (naive = UTC) or ISO-8601 text; NO_TS for None."""
    if value is None:
        return NO_TS
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH) // _US


_US = timedelta(microseconds=1)


def _ts_column(values: Any, n: int) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind in "iM":
        if values.dtype.kind == "M":
            values = values.astype("datetime64[us]").view(np.int64)  # NaT is NO_TS
        out = np.asarray(values, dtype=np.int64)
    elif len(values) == 0:
        out = np.full(n, NO_TS, dtype=np.int64)
    else:
        out = np.fromiter((_micros(v) for v in values), dtype=np.int64, count=len(values))
    if out.size != n:
        raise ValueError(f"MarkerBatch.ts has {out.size} rows, not {n}")
    return out


def _value_column(values: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values with NaN for none, mask of rows whose value is not a number)."""
    if len(values) == 0:
        return np.full(n, np.nan), np.zeros(n, dtype=bool)
    if len(values) != n:
        raise ValueError(f"MarkerBatch.values has {len(values)} rows, not {n}")
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        out = values.astype(np.float64, copy=False)
        return out, np.isinf(out)
    out = np.full(n, np.nan)
    bad = np.zeros(n, dtype=bool)
    for i, v in enumerate(values):
        if v is None:
            continue
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            out[i] = v
        elif not (isinstance(v, float) and math.isnan(v)):
            bad[i] = True
    return out, bad


@dataclass
class MarkerBatch:
    """Many sensors' current state as columns: row ``i`` is sensor ``sensor_ids[i]``.

    A row carries everything the overlay shows of its sensor (newest wins, nothing is
    merged).  ``colors`` are (N, 3) linear RGB.  Columns may be given as lists or
    arrays; they are kept as numpy arrays.  Optional columns left empty get their
    defaults (status "unknown", no value, unit "", no timestamp, quantity "",
    placement "exact", unbound).  A value of None or NaN and a timestamp of None keep
    the ones already written; ``ts`` takes datetimes (naive = UTC), ISO-8601 text or
    µs since the epoch (:data:`NO_TS`: none).  ``positions`` are an (N, 3) array
    (a row of NaN: the marker stays where it is) or a mapping of the sensors that
    moved or are new.  ``building_attrs`` are the extra attributes of a bound
    sensor's building (keys get the ``coptwin:`` namespace): a mapping sensor id ->
    {key: value}, or ``(row, key, value)`` arrays with rows ascending.
    """

    sensor_ids: Sequence[str] | np.ndarray
    layers: Sequence[str] | np.ndarray
    kinds: Sequence[str] | np.ndarray
    colors: np.ndarray
    statuses: Sequence[str] | np.ndarray = field(default_factory=list)
    values: Sequence[float | None] | np.ndarray = field(default_factory=list)
    units: Sequence[str] | np.ndarray = field(default_factory=list)
    ts: Sequence[datetime | str | None] | np.ndarray = field(default_factory=list)
    quantities: Sequence[str] | np.ndarray = field(default_factory=list)
    placements: Sequence[str] | np.ndarray = field(default_factory=list)
    bound_prims: Sequence[str] | np.ndarray = field(default_factory=list)
    positions: Mapping[str, Position] | np.ndarray = field(default_factory=dict)
    building_attrs: Mapping[str, Mapping[str, Any]] | tuple = field(default_factory=dict)
    #: Optional: row ``i`` is sensor ``key_space[keys[i]]``, where ``key_space`` is an
    #: array of sensor ids that is never written (the engine's registry ids) and in
    #: which a key's layer and kind never change; the overlay then finds a batch's
    #: sensors by array lookups instead of a join and checks kinds once per key.
    keys: np.ndarray | None = None
    key_space: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.sensor_ids)
        self.sensor_ids = _objects(self.sensor_ids, n, "", "sensor_ids")
        if len(self.layers) != n or len(self.kinds) != n:
            raise ValueError(f"MarkerBatch: layers and kinds need {n} rows")
        self.layers = _objects(self.layers, n, "", "layers")
        self.kinds = _objects(self.kinds, n, "", "kinds")
        self.colors = np.asarray(self.colors, dtype=np.float32).reshape(n, 3)
        for name, default in (
            ("statuses", "unknown"),
            ("units", ""),
            ("quantities", ""),
            ("placements", "exact"),
            ("bound_prims", ""),
        ):
            setattr(self, name, _objects(getattr(self, name), n, default, name))
        self.values, self.bad_value = _value_column(self.values, n)
        self.ts = _ts_column(self.ts, n)
        if isinstance(self.positions, Mapping):
            pos = np.full((n, 3), np.nan)
            if self.positions:
                for i, sid in enumerate(self.sensor_ids.tolist()):
                    p = self.positions.get(sid)
                    if p is not None:
                        pos[i] = _triple(p)
            self.positions = pos
        else:
            self.positions = np.asarray(self.positions, dtype=np.float64).reshape(n, 3)
        attrs = self.building_attrs
        if isinstance(attrs, Mapping):
            row_of = {sid: i for i, sid in enumerate(self.sensor_ids.tolist())} if attrs else {}
            rows, keys, vals = [], [], []
            for sid, extra in attrs.items():
                i = row_of.get(sid)
                for key, value in (extra or {}).items() if i is not None else ():
                    rows.append(i)
                    keys.append(key)
                    vals.append(value)
            order = np.argsort(np.asarray(rows, dtype=np.int64), kind="stable")
            attrs = (
                np.asarray(rows, dtype=np.int64)[order],
                _objects(keys, len(keys), "", "building_attrs")[order],
                _objects(vals, len(vals), None, "building_attrs")[order],
            )
        self.building_attrs = attrs
        self._starts: list[int] | None = None

    def __len__(self) -> int:
        return len(self.sensor_ids)

    def attrs_of(self, i: int) -> dict[str, Any]:
        """Row ``i``'s extra building attributes."""
        rows, keys, vals = self.building_attrs
        if not rows.size:
            return {}
        if self._starts is None:
            self._starts = np.searchsorted(rows, np.arange(len(self) + 1)).tolist()
        lo, hi = self._starts[i], self._starts[i + 1]
        return {keys[j]: vals[j] for j in range(lo, hi)}


def _triple(p: Any) -> tuple[float, float, float]:
    """Three floats, or NaN with a finite marker when ``p`` is not a triple."""
    try:
        x, y, z = p
        return float(x), float(y), float(z)
    except (TypeError, ValueError):
        return (math.inf, math.inf, math.inf)  # counted as a bad position


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


class _Chunk:
    """One PointInstancer of a layer: instances ``number * CHUNK`` onwards."""

    __slots__ = ("number", "instancer", "prototypes", "attrs")

    def __init__(self, number: int, instancer: Sdf.PrimSpec, prototypes: Sdf.PrimSpec) -> None:
        self.number = number
        self.instancer = instancer
        self.prototypes = prototypes
        self.attrs: dict[str, Any] = {}


class _Layer:
    """One sensor layer: its prims and its instances' arrays (grown by doubling), which
    its chunks' PointInstancers show slice by slice."""

    def __init__(self, name: str, prim: Sdf.PrimSpec, number: int) -> None:
        self.name = name
        self.prim = prim
        #: position in the overlay's list of layers
        self.number = number
        self.sensors_scope: Sdf.PrimSpec | None = None
        self.sensors_path = ""
        self.chunks: list[_Chunk] = []
        #: marker kind -> prototype index (the same in every chunk) and prototype names
        self.kinds: dict[str, int] = {}
        self.proto_names: list[str] = []
        self.names: set[str] = set()
        self.attrs: dict[str, Any] = {}
        self.n = 0
        cap = 64
        #: per instance: the overlay slot (whose sensor it shows), and what it shows
        self.slots = np.zeros(cap, dtype=np.int64)
        self.positions = np.zeros((cap, 3), dtype=np.float32)
        self.colors = np.zeros((cap, 3), dtype=np.float32)
        self.proto = np.zeros(cap, dtype=np.int32)
        self.ids = np.zeros(cap, dtype=np.int64)
        #: False until a marker has a position: the instancer's invisibleIds
        self.placed = np.zeros(cap, dtype=bool)
        #: array name -> chunk numbers to rewrite
        self.dirty: dict[str, set[int]] = {}

    def add(self, slots: np.ndarray, sids: np.ndarray) -> np.ndarray:
        """New instances for overlay ``slots`` with PointInstancer ids ``sids``; returns
        their instance indices."""
        i, k = self.n, slots.size
        if i + k > len(self.ids):
            cap = max(i + k, 2 * len(self.ids))
            self.slots = np.resize(self.slots, cap)
            self.positions = np.resize(self.positions, (cap, 3))
            self.colors = np.resize(self.colors, (cap, 3))
            self.proto = np.resize(self.proto, cap)
            self.ids = np.resize(self.ids, cap)
            self.placed = np.resize(self.placed, cap)
        new = slice(i, i + k)
        self.slots[new], self.ids[new], self.proto[new] = slots, sids, 0
        self.positions[new] = 0.0
        self.colors[new] = _DEFAULT_COLOR
        self.placed[new] = False  # no marker at the origin before the first position
        self.n += k
        index = np.arange(i, i + k)
        self.mark(_ARRAYS, index)
        return index

    def mark(self, names: Iterable[str], index: np.ndarray) -> None:
        """Arrays ``names`` changed at instances ``index``."""
        if index.size == 0:
            return
        chunks = set(np.flatnonzero(np.bincount(index // CHUNK)).tolist())
        for name in names:
            self.dirty.setdefault(name, set()).update(chunks)


class _Detail:
    """Per-sensor cache of its data prim: the specs and the values last written."""

    __slots__ = ("prim", "specs", "written", "bound")

    def __init__(self, prim: Sdf.PrimSpec) -> None:
        self.prim = prim
        #: attribute name -> AttributeSpec, and -> last value written
        self.specs: dict[str, Sdf.AttributeSpec] = {}
        self.written: dict[str, Any] = {}
        self.bound = ""


class Overlay:
    """The COP overlay layer on a stage; create with :meth:`attach`.

    Every sensor has a *slot* (in order of first appearance); per-slot arrays hold
    its layer, instance, full-precision position and queued detail."""

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
        #: max seconds a flush() may take once its structure is written (None: no limit)
        self.detail_time_budget_s = detail_time_budget_s
        self._layers: dict[str, _Layer] = {}
        self._layer_list: list[_Layer] = []
        self._layer_names: set[str] = set()
        self._instancers: dict[str, tuple[_Layer, int]] = {}
        # -- per slot
        self._n = 0
        self._ids: list[str] = []
        self._names: list[str] = []
        self._paths: list[str] = []
        self._details: list[_Detail | None] = []
        self._slot_of: dict[str, int] = {}
        self._by_path: dict[str, str] = {}
        self._sids: set[int] = set()
        cap = 64
        self._slot_layer = np.zeros(cap, dtype=np.int32)
        self._slot_index = np.zeros(cap, dtype=np.int64)
        self._slot_kind = np.empty(cap, dtype=object)
        self._pos = np.full((cap, 3), np.nan)
        #: queued detail: generation it was queued in (0: none), and the batch row
        self._pend_gen = np.zeros(cap, dtype=np.int64)
        self._src_batch = np.zeros(cap, dtype=np.int64)
        self._src_row = np.zeros(cap, dtype=np.int64)
        self._index = pl.DataFrame(schema={"sensor_id": pl.Utf8, "slot": pl.Int64})
        #: the key space of the last keyed batch and the slot of each of its keys
        #: (-1: not known yet, -2: not a valid sensor id)
        self._key_space: np.ndarray | None = None
        self._slot_of_key = np.zeros(0, dtype=np.int64)
        #: keys whose kind and layer were compared with their sensor's once
        self._key_checked = np.zeros(0, dtype=bool)
        #: detail queue, oldest first: [generation, slots, next position]
        self._queue: deque[list[Any]] = deque()
        self._gen = 0
        self._batches: dict[int, MarkerBatch] = {}
        self._batch_no = 0
        #: staged rows that need new USD structure (a layer or a marker kind seen
        #: for the first time), written by flush()
        self._needs_structure: list[tuple[MarkerBatch, np.ndarray]] = []
        #: what was staged since the last flush (flush() reports it)
        self._staged = OverlayStats()
        #: stage_batch() (worker thread) and flush() (stage thread) share the bookkeeping
        self._lock = threading.RLock()
        self._buildings = BuildingAttrs(stage, layer)
        self._attached = False
        self._warned: set[tuple[str, str]] = set()
        self._ts_key = NO_TS
        self._ts_text = ""
        #: seconds USD's change processing takes per detail attribute written (measured
        #: when a flush's change block closes), so the detail budget covers it
        self._notice_s = 0.0

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
        return int(np.count_nonzero(self._pend_gen[: self._n]))

    # ------------------------------------------------------------------ layers

    def define_layers(self, layers: Iterable[tuple[str, str, bool]]) -> None:
        """Create sensor layers from ``(name, label, visible)``; existing layers get
        the new label and visibility."""
        with self._lock, Sdf.ChangeBlock():
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
            lay = _Layer(name, prim, len(self._layer_list))
            _text(prim, "coptwin:layer", name)
            vis = Sdf.AttributeSpec(prim, "visibility", _T.Token, _VARYING, False)
            vis.default = "inherited"
            lay.attrs["visibility"] = vis
            lay.sensors_scope = Sdf.PrimSpec(prim, "Sensors", Sdf.SpecifierDef, "Scope")
            lay.sensors_path = str(lay.sensors_scope.path)
            self._add_chunk(lay)
        self._layers[name] = lay
        self._layer_list.append(lay)
        return lay

    def _add_chunk(self, lay: _Layer) -> _Chunk:
        """The layer's next PointInstancer, with every prototype the layer has so far."""
        k = len(lay.chunks)
        inst = Sdf.PrimSpec(
            lay.prim, "Markers" if k == 0 else f"Markers_{k}", Sdf.SpecifierDef, "PointInstancer"
        )
        chunk = _Chunk(k, inst, Sdf.PrimSpec(inst, "Prototypes", Sdf.SpecifierDef, "Scope"))
        chunk.attrs["prototypes"] = Sdf.RelationshipSpec(inst, "prototypes", False)
        for key, attr, typ in (
            ("positions", "positions", _T.Point3fArray),
            ("colors", "primvars:displayColor", _T.Color3fArray),
            ("proto", "protoIndices", _T.IntArray),
            ("ids", "ids", _T.Int64Array),
            ("hidden", "invisibleIds", _T.Int64Array),
        ):
            chunk.attrs[key] = Sdf.AttributeSpec(inst, attr, typ, _VARYING, False)
        # "vertex" on a PointInstancer = one value per instance
        chunk.attrs["colors"].SetInfo("interpolation", "vertex")
        for kind, name in zip(lay.kinds, lay.proto_names, strict=True):
            self._author_prototype(chunk, name, kind)
        lay.chunks.append(chunk)
        self._instancers[str(inst.path)] = (lay, k)
        for key in _ARRAYS:
            lay.dirty.setdefault(key, set()).add(k)
        self._flush_chunk(lay, chunk)
        return chunk

    def _set_visibility(self, lay: _Layer, visible: bool) -> None:
        lay.attrs["visibility"].default = "inherited" if visible else "invisible"

    def _proto_index(self, lay: _Layer, kind: str) -> int:
        idx = lay.kinds.get(kind)
        if idx is not None:
            return idx
        name = prim_name(kind or "default", set(lay.proto_names))
        for chunk in lay.chunks:
            self._author_prototype(chunk, name, kind)
        lay.proto_names.append(name)
        idx = lay.kinds[kind] = len(lay.kinds)
        return idx

    def _author_prototype(self, chunk: _Chunk, name: str, kind: str) -> None:
        proto = author_prototype(
            chunk.prototypes,
            name,
            shape_for(kind, self._marker_shapes),
            self._marker_size_m / self.meters_per_unit,
            self.up_axis,
        )
        _text(proto, "coptwin:kind", kind)
        chunk.attrs["prototypes"].targetPathList.explicitItems.append(proto.path)

    # ------------------------------------------------------------------ sensors

    def marker_path(self, sensor_id: str) -> Sdf.Path | None:
        """The data prim of a sensor (what Kit selects), or None if unknown."""
        slot = self._slot_of.get(sensor_id)
        if slot is None:
            return None
        lay = self._layer_list[self._slot_layer[slot]]
        return Sdf.Path(f"{lay.sensors_path}/{self._names[slot]}")

    def marker_path_text(self, sensor_id: str) -> str:
        """:meth:`marker_path` as text ("" if unknown), without making an Sdf.Path."""
        slot = self._slot_of.get(sensor_id)
        return "" if slot is None else self._paths[slot]

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
        return list(self._ids)

    def instancers(self) -> dict[str, str]:
        """Marker PointInstancer path -> sensor layer (what a viewport pick reports);
        a layer has one PointInstancer per :data:`CHUNK` markers."""
        return {path: lay.name for path, (lay, _) in self._instancers.items()}

    def sensor_for_instance(self, instancer: str, index: int) -> str | None:
        """The sensor shown by instance ``index`` of the PointInstancer at ``instancer``."""
        found = self._instancers.get(str(instancer))
        if found is None or not 0 <= index < CHUNK:
            return None
        lay, k = found
        i = k * CHUNK + index
        return self._ids[int(lay.slots[i])] if i < lay.n else None

    def _lookup(self, ids: np.ndarray) -> np.ndarray:
        """The slot of each sensor id (-1: not known yet); one join for large batches."""
        if not self._slot_of:
            return np.full(ids.size, -1, dtype=np.int64)
        if ids.size <= _SMALL:
            get = self._slot_of.get
            return np.fromiter((get(s, -1) for s in ids.tolist()), np.int64, count=ids.size)
        wanted = pl.DataFrame({"sensor_id": pl.Series(ids.tolist(), dtype=pl.Utf8, strict=False)})
        found = wanted.join(self._index, on="sensor_id", how="left", maintain_order="left")
        return np.array(found["slot"].fill_null(-1).to_numpy(), dtype=np.int64)

    def _slots_of(self, batch: MarkerBatch) -> np.ndarray:
        """The slot of each row's sensor: -1 not known yet, -2 not a valid id."""
        space = batch.key_space
        if batch.keys is None or space is None:
            return self._checked_lookup(batch.sensor_ids)
        if space is not self._key_space:
            self._key_space, self._slot_of_key = space, self._checked_lookup(space)
            self._key_checked = np.zeros(space.size, dtype=bool)
        return self._slot_of_key[batch.keys]

    def _checked_lookup(self, ids: np.ndarray) -> np.ndarray:
        slots = self._lookup(ids)
        valid = np.fromiter(
            (isinstance(s, str) and s != "" for s in ids.tolist()), bool, count=ids.size
        )
        slots[~valid] = -2
        return slots

    def _register(self, batch: MarkerBatch, rows: np.ndarray) -> np.ndarray:
        """Give new sensors (rows of ``batch`` whose layer exists) a slot and an instance;
        their data prims come with the detail pass.  Returns the slots.  Python per new
        sensor only for its prim name and instance id."""
        slots = np.empty(rows.size, dtype=np.int64)
        first, slot_of, taken = self._n, self._slot_of, self._sids
        new: list[tuple[str, _Layer, str, int]] = []
        ids, layers = batch.sensor_ids[rows].tolist(), batch.layers[rows].tolist()
        for j, (sensor_id, layer) in enumerate(zip(ids, layers, strict=True)):
            slot = slot_of.get(sensor_id)  # known, or twice in one batch
            if slot is None:
                lay = self._layers[layer or "default"]
                name = prim_name(sensor_id, lay.names)
                lay.names.add(name)
                sid = stable_id(sensor_id)
                while sid in taken:  # 63-bit hash collision: practically never, still handled
                    sid = (sid + 1) & 0x7FFF_FFFF_FFFF_FFFF
                taken.add(sid)
                slot = slot_of[sensor_id] = first + len(new)
                new.append((sensor_id, lay, name, sid))
            slots[j] = slot
        if batch.keys is not None and batch.key_space is self._key_space:
            self._slot_of_key[batch.keys[rows]] = slots
        if not new:
            return slots
        k = len(new)
        self._grow(first + k)
        self._n = first + k
        created = np.arange(first, first + k)
        numbers = np.array([lay.number for _, lay, _, _ in new], dtype=np.int32)
        sids = np.array([sid for _, _, _, sid in new], dtype=np.int64)
        self._slot_layer[created] = numbers
        self._slot_kind[created] = None
        for number in np.unique(numbers).tolist():
            mine = numbers == number
            lay = self._layer_list[number]
            self._slot_index[created[mine]] = lay.add(created[mine], sids[mine])
        for sensor_id, lay, name, _ in new:
            path = f"{lay.sensors_path}/{name}"
            self._paths.append(path)
            self._by_path[path] = sensor_id
        self._ids.extend(sensor_id for sensor_id, _, _, _ in new)
        self._names.extend(name for _, _, name, _ in new)
        self._details.extend([None] * k)
        self._staged.created += k
        added = pl.DataFrame(
            {
                "sensor_id": pl.Series(self._ids[first:], dtype=pl.Utf8),
                "slot": pl.Series(created, dtype=pl.Int64),
            }
        )
        self._index = self._index.vstack(added)
        if self._index.n_chunks() > 16:
            self._index = self._index.rechunk()
        return slots

    def _grow(self, need: int) -> None:
        cap = self._slot_layer.size
        if need <= cap:
            return
        new = max(need, 2 * cap)
        self._slot_layer = np.resize(self._slot_layer, new)
        self._slot_index = np.resize(self._slot_index, new)
        kinds = np.empty(new, dtype=object)
        kinds[:cap] = self._slot_kind
        self._slot_kind = kinds
        pos = np.full((new, 3), np.nan)
        pos[:cap] = self._pos
        self._pos = pos
        for name in ("_pend_gen", "_src_batch", "_src_row"):
            grown = np.zeros(new, dtype=np.int64)
            grown[:cap] = getattr(self, name)
            setattr(self, name, grown)

    # ------------------------------------------------------------------ staging

    def stage_batch(self, batch: MarkerBatch) -> None:
        """Take a batch (any thread, no USD writes): patch the marker arrays and queue
        each row's detail; rows that need new USD structure wait for :meth:`flush`.

        The cost is a join and numpy over the batch's columns, plus a little Python
        per new sensor.  The batch belongs to the overlay from now on (queued rows
        refer into it).
        """
        with self._lock:
            staged = self._staged
            staged.updates += len(batch)
            if not len(batch):
                return
            slots = self._slots_of(batch)
            if (slots == -2).any():
                staged.skipped["empty_sensor_id"] += int((slots == -2).sum())
            fresh = np.flatnonzero(slots == -1)
            if fresh.size:
                ready = self._ready(batch, fresh, None)
                slots[fresh[ready]] = self._register(batch, fresh[ready])
            rows = np.flatnonzero(slots >= 0)
            check = rows[self._unchecked(batch, rows)]
            change = check[self._kind_changes(batch, check, slots[check])]
            if change.size:  # a kind this layer has no prototype for yet waits for flush
                later = change[~self._ready(batch, change, slots[change])]
                if later.size:
                    slots[later] = -3
                    rows = np.flatnonzero(slots >= 0)
            waiting = np.flatnonzero((slots == -1) | (slots == -3))
            if waiting.size:
                self._needs_structure.append((batch, waiting))
            self._stage_rows(batch, rows, slots[rows], staged.skipped)

    def _ready(self, batch: MarkerBatch, rows: np.ndarray, slots: np.ndarray | None) -> np.ndarray:
        """Which ``rows`` find their layer (new sensors: ``slots`` None) and a prototype
        for their marker kind, so staging them needs no USD."""
        if slots is None:
            lays = [self._layers.get(layer or "default") for layer in batch.layers[rows].tolist()]
        else:
            lays = [self._layer_list[k] for k in self._slot_layer[slots].tolist()]
        kinds = batch.kinds[rows].tolist()
        return np.fromiter(
            (lay is not None and kind in lay.kinds for lay, kind in zip(lays, kinds, strict=True)),
            bool,
            count=rows.size,
        )

    def _stage_rows(
        self, batch: MarkerBatch, rows: np.ndarray, slots: np.ndarray, skipped: Counter[str]
    ) -> None:
        """Patch colours, prototypes and positions of known sensors; queue their details."""
        if not rows.size:
            return
        layer_no, index = self._slot_layer[slots], self._slot_index[slots]
        check = self._unchecked(batch, rows)
        where = np.flatnonzero(check)
        change = where[self._kind_changes(batch, rows[where], slots[where])]
        if change.size:  # a sensor's first staging, or a new kind: per kind and layer
            kinds = batch.kinds[rows[change]]
            for kind in set(kinds.tolist()):
                of_kind = change[kinds == kind]
                self._slot_kind[slots[of_kind]] = kind
                for k in np.unique(layer_no[of_kind]).tolist():
                    at = index[of_kind[layer_no[of_kind] == k]]
                    lay = self._layer_list[k]
                    lay.proto[at] = self._proto_index(lay, kind)
                    lay.mark(("proto",), at)
        if check.any():
            names = np.array([lay.name for lay in self._layer_list], dtype=object)
            layers = batch.layers[rows[check]]
            other = np.flatnonzero((layers != names[layer_no[check]]) & (layers != ""))
            for j in np.flatnonzero(check)[other].tolist():
                first = names[layer_no[j]]
                self._warn_once(
                    "layer_changed", self._ids[slots[j]], "keeps its first layer %r", first
                )
        if batch.keys is not None and batch.key_space is self._key_space:
            self._key_checked[batch.keys[rows]] = True
        colors = batch.colors[rows]
        ok = np.isfinite(colors[:, 0] + colors[:, 1] + colors[:, 2])
        if not ok.all():
            skipped["bad_color"] += int((~ok).sum())
        pos = batch.positions[rows]
        has = ~(np.isnan(pos[:, 0]) & np.isnan(pos[:, 1]) & np.isnan(pos[:, 2]))
        good = np.isfinite(pos[:, 0] + pos[:, 1] + pos[:, 2])
        if (has & ~good).any():
            skipped["bad_position"] += int((has & ~good).sum())
        self._pos[slots[good]] = pos[good]
        one = layer_no.size and layer_no.min() == layer_no.max()
        for k in [int(layer_no[0])] if one else np.unique(layer_no).tolist():
            lay = self._layer_list[k]
            mine = slice(None) if one else layer_no == k
            shown = ok if one else mine & ok
            at = index[shown]
            lay.colors[at] = colors[shown]
            lay.mark(("colors",), at)
            moved = good if one else mine & good
            if moved.any():
                at = index[moved]
                lay.positions[at] = pos[moved]
                lay.mark(("positions",), at)
                unplaced = at[~lay.placed[at]]
                if unplaced.size:
                    lay.placed[unplaced] = True
                    lay.mark(("hidden",), unplaced)
        bad = int(batch.bad_value[rows].sum())
        if bad:
            skipped["bad_value"] += bad
        self._queue_details(batch, rows, slots)

    def _unchecked(self, batch: MarkerBatch, rows: np.ndarray) -> np.ndarray:
        """Rows whose kind and layer must be compared with what their sensor has: all,
        except keys of the current key space seen before (a key's kind and layer are
        fixed in its key space)."""
        if batch.keys is not None and batch.key_space is self._key_space:
            return ~self._key_checked[batch.keys[rows]]
        return np.ones(rows.size, dtype=bool)

    def _kind_changes(self, batch: MarkerBatch, rows: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Positions in ``rows`` whose marker kind changes (an empty kind keeps one)."""
        kinds, current = batch.kinds[rows], self._slot_kind[slots]
        return np.flatnonzero((kinds != current) & ((kinds != "") | _is_none(current)))

    def _queue_details(self, batch: MarkerBatch, rows: np.ndarray, slots: np.ndarray) -> None:
        """Point the sensors' queued detail at these rows (newest wins); sensors not
        queued yet join the end of the queue."""
        if len(self._batches) > 16:  # forget batches no queued detail refers to
            live = set(
                np.unique(self._src_batch[: self._n][self._pend_gen[: self._n] > 0]).tolist()
            )
            self._batches = {k: b for k, b in self._batches.items() if k in live}
        self._batch_no += 1
        self._batches[self._batch_no] = batch
        self._src_batch[slots] = self._batch_no
        self._src_row[slots] = rows
        new = slots[self._pend_gen[slots] == 0]
        if new.size:
            self._gen += 1
            self._pend_gen[new] = self._gen
            self._queue.append([self._gen, new, 0])

    # ------------------------------------------------------------------ flush

    def flush(self) -> OverlayStats:
        """Stage-thread half: new structure, changed instancer chunks, then the detail
        pass within the time budget.  Reports everything staged since the last flush;
        cheap when nothing was staged."""
        start = time.perf_counter()
        with self._lock:
            with Sdf.ChangeBlock():
                fresh, self._needs_structure = self._needs_structure, []
                for batch, rows in fresh:
                    self._build_structure(batch, rows)
                stats, self._staged = self._staged, OverlayStats()
                for lay in self._layer_list:
                    while len(lay.chunks) * CHUNK < lay.n:
                        self._add_chunk(lay)
                    if lay.dirty:
                        for chunk in lay.chunks:
                            self._flush_chunk(lay, chunk)
                budget = self.detail_time_budget_s
                self._detail_pass(stats, None if budget is None else start + budget)
                closing = time.perf_counter()
            if stats.attribute_writes and not fresh and not stats.created:
                # What USD (and Kit's listeners) spent on the notices of these writes when
                # the block closed: the next detail pass counts it in its budget.
                per = min((time.perf_counter() - closing) / stats.attribute_writes, 1e-4)
                self._notice_s = per if not self._notice_s else 0.7 * self._notice_s + 0.3 * per
        if stats.skipped:
            log.warning(
                "overlay: skipped %s in %d updates",
                ", ".join(f"{k} {r}" for r, k in sorted(stats.skipped.items())),
                stats.updates,
            )
        return stats

    def _build_structure(self, batch: MarkerBatch, rows: np.ndarray) -> None:
        """Layers and prototypes the rows need, then stage them (stage thread)."""
        ids, layers, kinds = batch.sensor_ids, batch.layers, batch.kinds
        slots = self._lookup(ids[rows])
        needs = zip(slots.tolist(), layers[rows].tolist(), kinds[rows].tolist(), strict=True)
        for slot, layer, kind in dict.fromkeys(needs):  # in batch order: stable prototypes
            if slot >= 0:
                lay = self._layer_list[self._slot_layer[slot]]
                if kind:
                    self._proto_index(lay, kind)
            else:
                self._proto_index(self._layer_state(layer or "default"), kind)
        new = slots < 0
        if new.any():
            slots[new] = self._register(batch, rows[new])
        self._stage_rows(batch, rows, slots, self._staged.skipped)

    def flush_details(self) -> OverlayStats:
        """Write every queued sensor detail now, whatever the budget."""
        stats = OverlayStats()
        with self._lock, Sdf.ChangeBlock():
            self._detail_pass(stats, None)
        return stats

    def _flush_chunk(self, lay: _Layer, chunk: _Chunk) -> None:
        """Write the arrays of ``chunk`` that changed."""
        k, attrs, dirty = chunk.number, chunk.attrs, lay.dirty
        lo, hi = k * CHUNK, min(lay.n, (k + 1) * CHUNK)
        if k in dirty.get("positions", ()):
            attrs["positions"].default = Vt.Vec3fArray.FromNumpy(lay.positions[lo:hi])
        if k in dirty.get("colors", ()):
            attrs["colors"].default = Vt.Vec3fArray.FromNumpy(lay.colors[lo:hi])
        if k in dirty.get("proto", ()):
            attrs["proto"].default = Vt.IntArray.FromNumpy(lay.proto[lo:hi])
        if k in dirty.get("ids", ()):
            attrs["ids"].default = Vt.Int64Array.FromNumpy(lay.ids[lo:hi])
        if k in dirty.get("hidden", ()):
            hidden = lay.ids[lo:hi][~lay.placed[lo:hi]]
            attrs["hidden"].default = Vt.Int64Array.FromNumpy(np.sort(hidden))
        for chunks in dirty.values():
            chunks.discard(k)
        if not any(dirty.values()):
            dirty.clear()

    # ------------------------------------------------------------------ detail pass

    def _detail_pass(self, stats: OverlayStats, deadline: float | None) -> None:
        """Write queued details, oldest first, until ``deadline`` (counting the notices
        the writes will cause); a small queue (:data:`DETAIL_FLOOR`) is written at least
        that far whatever the time, a large one at least one sensor further."""
        queue, gens = self._queue, self._pend_gen
        floor = DETAIL_FLOOR if self.details_pending <= DETAIL_FLOOR else 1
        writes = done = units = 0
        details, batches = self._details, self._batches
        src_batch, src_row = self._src_batch, self._src_row
        clock, notice_s = time.perf_counter, self._notice_s
        stop = False
        while queue and not stop:
            entry = queue[0]
            gen, slots, at = entry
            end = slots.size
            while at < end:
                slot = int(slots[at])
                at += 1
                if gens[slot] != gen:
                    continue  # queued twice in one batch: written already
                gens[slot] = 0
                # creating a data prim costs about ten updates: count it so in the floor
                units += _CREATE_UNITS if details[slot] is None else 1
                batch = batches[int(src_batch[slot])]
                writes += self._write_detail(slot, batch, int(src_row[slot]), stats.skipped)
                done += 1
                if (
                    deadline is not None
                    and units >= floor
                    and clock() + writes * notice_s > deadline
                ):
                    stop = True
                    break
            entry[2] = at
            if at >= end:
                queue.popleft()
        stats.details_written += done
        stats.details_pending = self.details_pending
        stats.attribute_writes += writes

    def _write_detail(self, slot: int, b: MarkerBatch, i: int, skipped: Counter[str]) -> int:
        """Row ``i`` of ``b`` on the sensor's data prim (created on first use) and on
        its bound building."""
        det = self._details[slot]
        sensor_id = self._ids[slot]
        writes = 0
        if det is None:
            lay = self._layer_list[self._slot_layer[slot]]
            prim = Sdf.PrimSpec(lay.sensors_scope, self._names[slot], Sdf.SpecifierDef, "Xform")
            det = self._details[slot] = _Detail(prim)
            _text(prim, "coptwin:sensorId", sensor_id)
            writes += 1
        specs, written = det.specs, det.written
        x, y, z = self._pos[slot].tolist()  # the data prim follows the marker
        if x == x and (x, y, z) != written.get("pos"):
            spec = specs.get("pos")
            if spec is None:
                spec = specs["pos"] = _translate_op(det.prim)
            spec.default = Gf.Vec3d(x, y, z)
            written["pos"] = (x, y, z)
            writes += 1
        r, g, bl = b.colors[i].tolist()
        if r - r == 0 and g - g == 0 and bl - bl == 0:
            color = (r, g, bl)
            if color != written.get("color"):
                spec = specs.get("color")
                if spec is None:
                    spec = Sdf.AttributeSpec(det.prim, "primvars:displayColor", _T.Color3fArray)
                    spec.SetInfo("interpolation", "constant")
                    specs["color"] = spec
                spec.default = Vt.Vec3fArray([Gf.Vec3f(*color)])
                written["color"] = color
                writes += 1
        value: float | None = float(b.values[i])
        if value != value or b.bad_value[i]:
            value = None
        else:
            writes += self._put(det, "coptwin:value", _T.Double, value)
        ts_text = ""
        ts = int(b.ts[i])
        if ts != NO_TS:
            ts_text = self._iso(ts)
            writes += self._put(det, "coptwin:ts", _T.String, ts_text)
        status = b.statuses[i]
        writes += self._put(det, "coptwin:status", _T.String, status)
        kind = self._slot_kind[slot] or ""
        quantity = b.quantities[i]
        texts = (kind, b.units[i], quantity, b.placements[i])
        if written.get("texts") != texts:  # rarely changes: one compare for four attributes
            written["texts"] = texts
            for key, text in zip(_TEXT_ATTRS, texts, strict=True):
                writes += self._put(det, key, _T.String, text)
        bound = b.bound_prims[i]
        if det.bound and det.bound != bound:
            writes += self._buildings.unbind(sensor_id, det.bound, skipped)
            det.bound = ""
        if bound:
            if det.bound != bound:
                det.bound = bound
                writes += self._put(det, "coptwin:boundPrim", _T.String, bound)
            writes += self._buildings.update(
                sensor_id,
                bound,
                status,
                quantity,
                value,
                ts_text,
                b.attrs_of(i),
                skipped,
            )
        return writes

    def _put(self, det: _Detail, name: str, typ: Any, value: Any) -> int:
        if det.written.get(name) == value:
            return 0
        spec = det.specs.get(name)
        if spec is None:
            spec = det.specs[name] = Sdf.AttributeSpec(det.prim, name, typ, _VARYING, True)
        spec.default = value
        det.written[name] = value
        return 1

    def _iso(self, ts: int) -> str:
        """ISO-8601 text of µs since the epoch, with a one-entry cache: a batch often
        shares one timestamp."""
        if ts != self._ts_key:
            self._ts_key, self._ts_text = ts, iso_utc(_EPOCH + timedelta(microseconds=ts))
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


def _is_none(values: np.ndarray) -> np.ndarray:
    """Elementwise ``is None`` of an object array."""
    return values == None  # noqa: E711 - elementwise on objects


def _text(prim: Sdf.PrimSpec, name: str, value: str) -> None:
    spec = prim.attributes.get(name) or Sdf.AttributeSpec(prim, name, _T.String, _VARYING, True)
    spec.default = value


def _translate_op(prim: Sdf.PrimSpec) -> Sdf.AttributeSpec:
    """``xformOp:translate`` (double: city coordinates need it) and its op order."""
    order = Sdf.AttributeSpec(prim, "xformOpOrder", _T.TokenArray, _UNIFORM, False)
    order.default = Vt.TokenArray(["xformOp:translate"])
    return Sdf.AttributeSpec(prim, "xformOp:translate", _T.Double3, _VARYING, False)
