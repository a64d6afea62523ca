"""Immutable pictures of the engine's state for user interfaces.

The omni.ui panel, the web page, the CLI summary and the tests all read the engine
through these plain objects, so view-models never touch polars frames, USD or
threads.  A snapshot is cheap to make and safe to hand to any thread:
:func:`build_snapshot` (``Engine.snapshot()``) only takes references under the
engine's lock -- the per-sensor columns it keeps (:class:`Shown`, the verdicts, the
positions) are replaced by every tick, never written in place -- and
:class:`SensorTable` makes a :class:`SensorRow` only when one is read.  Every row
carries the revision at which it last changed, so a view that kept an older
snapshot asks :meth:`SensorTable.changed_since` and redraws those rows only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Literal, NamedTuple, overload

import numpy as np

from coptwin.engine.alarms import AlarmsView

if TYPE_CHECKING:  # the engine imports this module
    from coptwin.engine.engine import Engine
    from coptwin.engine.steps import SensorFacts, VerdictView
    from coptwin.model.registry import SensorRegistry
    from coptwin.model.state import Readings

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
    #: One row per registered sensor (registry order); a :class:`SensorTable` when
    #: taken from an engine.
    sensors: Sequence[SensorRow] = ()
    #: Moment the snapshot was taken (for "age" columns), timezone-aware UTC.
    now: datetime | None = None
    #: Operators' alarms (None: no alarms table configured).
    alarms: AlarmsView | None = None


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NO_TS = np.iinfo(np.int64).min


class SensorColumns(NamedTuple):
    """What a row needs that changes only with the sensors table (registry order)."""

    ids: np.ndarray
    names: np.ndarray
    facts: SensorFacts
    #: layer of each sensor as a code into ``layer_names``
    layer_code: np.ndarray
    layer_names: tuple[str, ...]
    #: sensor id -> registry index
    index: Mapping[str, int]


def sensor_columns(registry: SensorRegistry, facts: SensorFacts) -> SensorColumns:
    """The static columns of a registry's rows (once per sensors table, not per snapshot)."""
    names = registry.frame["name"].to_numpy().astype(object)
    layer_names, layer_code = np.unique(facts.layer.astype(str), return_inverse=True)
    ids = facts.sensor_id
    return SensorColumns(
        ids,
        names,
        facts,
        layer_code.reshape(-1),
        tuple(layer_names.tolist()),
        dict(zip(ids.tolist(), range(ids.size), strict=True)),
    )


class Shown(NamedTuple):
    """The latest reading each sensor shows and when its row last changed (registry
    order).  Replaced, never written in place: a snapshot keeps a reference."""

    #: NaN where the reading has no value
    value: np.ndarray
    #: µs since the epoch; min int64 where the sensor has no reading
    ts: np.ndarray
    quantity: np.ndarray
    unit: np.ndarray
    #: engine revision at which the row (status, reading, position) last changed
    rev: np.ndarray
    #: engine revision at which the position last changed
    moved_rev: np.ndarray
    #: the engine's revision when this was published
    revision: int

    @classmethod
    def empty(cls, n: int, revision: int) -> Shown:
        unit = np.empty(n, dtype=object)
        unit[:] = ""
        return cls(
            np.full(n, np.nan),
            np.full(n, _NO_TS, dtype=np.int64),
            unit.copy(),
            unit,
            np.full(n, revision, dtype=np.int64),
            np.full(n, revision, dtype=np.int64),
            revision,
        )

    def patched(
        self,
        idx: np.ndarray,
        revision: int,
        value: np.ndarray,
        ts: np.ndarray,
        quantity: np.ndarray,
        unit: np.ndarray,
        moved: np.ndarray,
    ) -> Shown:
        """A copy with rows ``idx`` (and positions ``moved``) changed at ``revision``."""
        columns = []
        for old, new in ((self.value, value), (self.ts, ts), (self.quantity, quantity)):
            col = old.copy()
            col[idx] = new
            columns.append(col)
        col = self.unit.copy()
        col[idx] = unit
        rev = self.rev.copy()
        rev[idx] = revision
        moved_rev = self.moved_rev
        if moved.size:
            rev[moved] = revision
            moved_rev = moved_rev.copy()
            moved_rev[moved] = revision
        return Shown(*columns, col, rev, moved_rev, revision)


class PositionMap(Mapping[str, tuple[float, float, float]]):
    """Sensor id -> marker position (stage coordinates) over the positions array."""

    def __init__(self, index: Mapping[str, int], xyz: np.ndarray) -> None:
        self._index, self._xyz = index, xyz

    def __getitem__(self, sensor_id: str) -> tuple[float, float, float]:
        x, y, z = self._xyz[self._index[sensor_id]].tolist()
        if x != x:
            raise KeyError(sensor_id)  # not placed
        return (x, y, z)

    def __iter__(self) -> Iterator[str]:
        placed = ~np.isnan(self._xyz[:, 0])
        ids = list(self._index)
        return (ids[i] for i in np.flatnonzero(placed).tolist())

    def __len__(self) -> int:
        return int(np.count_nonzero(~np.isnan(self._xyz[:, 0])))


class SensorTable(Sequence[SensorRow]):
    """The sensors of one snapshot: columns, with a :class:`SensorRow` made (and kept)
    when a row is read.  Reading every row costs O(sensors) Python; views that follow
    the engine read :meth:`changed_since` their last revision instead."""

    def __init__(
        self,
        columns: SensorColumns,
        shown: Shown,
        verdicts: VerdictView,
        xyz: np.ndarray,
        marker_path: Callable[[str], str],
        made: dict[int, tuple[int, SensorRow]] | None = None,
    ) -> None:
        self.columns, self.shown, self.verdicts, self.xyz = columns, shown, verdicts, xyz
        self._marker_path = marker_path
        #: row i -> (revision it shows, row), shared by the tables of one sensors table:
        #: a row that has not changed since is reused, not made again
        self._made = made if made is not None else {}

    @property
    def revision(self) -> int:
        """The engine's revision this table shows."""
        return self.shown.revision

    def changed_since(self, revision: int) -> np.ndarray:
        """Indices of the rows that changed after ``revision`` (status, reading or position)."""
        return np.flatnonzero(self.shown.rev > revision)

    def moved_since(self, revision: int) -> np.ndarray:
        """Indices of the rows whose position changed after ``revision``."""
        return np.flatnonzero(self.shown.moved_rev > revision)

    def index_of(self, sensor_id: str) -> int | None:
        return self.columns.index.get(sensor_id)

    def row_of(self, sensor_id: str) -> SensorRow | None:
        i = self.columns.index.get(sensor_id)
        return None if i is None else self[i]

    def status_codes(self) -> tuple[np.ndarray, tuple[str, ...]]:
        """Every row's status as codes into the names returned with them."""
        return self.verdicts.codes, self.verdicts.names

    def at(
        self, verdicts: VerdictView, readings: Readings, moved: np.ndarray, moved_xyz: np.ndarray
    ) -> SensorTable:
        """The same sensors with the verdicts and latest ``readings`` (every row, registry
        order) of another moment and its trackers ``moved`` to ``moved_xyz``: one viewer's
        time travel beside the live table, made from columns like it."""
        n = len(self)
        unit = np.where(readings.has_unit, readings.unit, "").astype(object)
        shown = Shown.empty(n, 0).patched(
            np.arange(n), 1, readings.value, readings.ts, readings.quantity, unit, moved
        )
        xyz = self.xyz
        if moved.size:
            xyz = xyz.copy()
            xyz[moved] = moved_xyz
        return SensorTable(self.columns, shown, verdicts, xyz, self._marker_path)

    def __len__(self) -> int:
        return self.columns.ids.size

    @overload
    def __getitem__(self, i: int) -> SensorRow: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[SensorRow]: ...
    def __getitem__(self, i: int | slice) -> SensorRow | Sequence[SensorRow]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        rev = int(self.shown.rev[i])
        made = self._made.get(i)
        if made is not None and made[0] == rev:
            return made[1]
        row = self._make(i)
        if row.marker_path:  # until its marker exists, a row is made again when read
            self._made[i] = (rev, row)
        return row

    def __iter__(self) -> Iterator[SensorRow]:
        return (self[i] for i in range(len(self)))

    def _make(self, i: int) -> SensorRow:
        c, shown, facts = self.columns, self.shown, self.columns.facts
        sid = c.ids[i]
        value = float(shown.value[i])
        ts = int(shown.ts[i])
        x, y, z = self.xyz[i].tolist()
        return SensorRow(
            sensor_id=sid,
            name=c.names[i] or sid,
            kind=facts.kind[i],
            layer=facts.layer[i],
            status=self.verdicts.status(i),
            value=None if value != value else value,
            unit=shown.unit[i] or facts.unit[i] or "",
            quantity=shown.quantity[i] or "",
            ts=None if ts == _NO_TS else _EPOCH + timedelta(microseconds=ts),
            marker_path=self._marker_path(sid),
            bound_prim=facts.bound_prim[i],
            placement=facts.placement[i],
            position=None if x != x else (x, y, z),
            reason=self.verdicts.reason(i),
        )


def layer_counts(columns: SensorColumns, codes: np.ndarray, names: Sequence[str]) -> dict:
    """Sensors per layer and status: ``{layer: {status: count}}`` (statuses that occur)."""
    k = len(names)
    counts = np.bincount(
        columns.layer_code * k + codes, minlength=len(columns.layer_names) * k
    ).reshape(-1, k)
    return {
        layer: {names[s]: int(n) for s, n in enumerate(row.tolist()) if n}
        for layer, row in zip(columns.layer_names, counts, strict=True)
    }


def build_snapshot(engine: Engine) -> EngineSnapshot:
    """The engine's state now.  Under the engine's lock it only takes references;
    rows are made when read (see :class:`SensorTable`)."""
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
        columns, overlay = engine.sensor_columns, engine.overlay
        if columns is None or not (engine.opened or engine.closed):
            # still opening: rows appear with their markers (to select and frame them)
            return EngineSnapshot(status=status, now=now, alarms=alarms)
        shown, verdicts, xyz = engine.shown, engine.verdicts.view(), engine.xyz
        layer_defs = engine.layer_rows()
        visible = dict(engine.layer_visible)
        made = engine.made_rows
    marker_path = overlay.marker_path_text if overlay is not None else (lambda _sid: "")
    table = SensorTable(columns, shown, verdicts, xyz, marker_path, made)
    counts = layer_counts(columns, verdicts.codes, verdicts.names)
    layers = tuple(
        LayerRow(
            name=name,
            label=label,
            visible=visible.get(name, shown_by_default),
            counts=counts.get(name, {}),
        )
        for name, label, shown_by_default in layer_defs
    )
    return EngineSnapshot(status=status, layers=layers, sensors=table, now=now, alarms=alarms)
