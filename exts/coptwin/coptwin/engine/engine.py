"""The engine: hint → read only what is new → latest state → status → overlay.

One tick has two halves so Kit's viewport never stalls:

* :meth:`Engine.prepare` does everything that may block (Delta log, parquet
  decode, state merge, rules, placement of moving sensors) and is safe to run
  in a worker thread;
* :meth:`Engine.commit` writes the resulting marker updates into the USD
  overlay and must run on the thread that owns the stage.

:meth:`Engine.tick` does both in the caller's thread (CLI, tests); :meth:`Engine.run`
is the asyncio loop Kit and ``coptwin run`` use, with event hints, polling and
exponential backoff while storage is unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl

from coptwin.config import Config
from coptwin.delta import TableWatcher
from coptwin.engine.aging import AgingSchedule
from coptwin.engine.snapshot import EngineSnapshot, EngineStatus, LayerRow, SensorRow
from coptwin.engine.stats import RunningStats, TickStats
from coptwin.model.columns import to_canonical
from coptwin.model.palette import color_array
from coptwin.model.registry import SensorRegistry
from coptwin.model.rules import evaluate, rule_frame
from coptwin.model.state import LatestState
from coptwin.storage import apply_ca_bundle, delta_storage_options, redact, resolve_credentials

log = logging.getLogger(__name__)


Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class PendingUpdate:
    """Result of :meth:`Engine.prepare`, handed to :meth:`Engine.commit`."""

    #: Marker changes (a coptwin.scene.overlay.MarkerBatch) not yet staged in the overlay.
    updates: Any = None
    stats: TickStats = field(default_factory=TickStats)
    versions_advanced: int = 0
    #: A re-read sensors table to install (registry + placement), if it changed.
    sensors: _Sensors | None = None
    #: Changed annotation ids to redraw; None redraws every pin.
    annotations: list[str] | None = field(default_factory=list)


@dataclass
class _Sensors:
    """A sensors table read and placed; after adoption, the layers and the batch
    that draws every sensor (computed off the stage thread)."""

    registry: SensorRegistry
    placed: pl.DataFrame
    layers: list[tuple[str, str, bool]] = field(default_factory=list)
    batch: Any = None


@dataclass
class _Opening:
    """Result of :meth:`Engine.prepare_open`, handed to :meth:`Engine.commit_open`."""

    stage: Any
    placer: Any
    watchers: dict[str, TableWatcher]
    sensors: _Sensors


class Engine:
    """Kit-free COP engine over one config and one USD stage.

    ``stage`` is the stage to decorate (Kit passes its own); when None the
    engine opens ``config.scene.path`` itself.  The base scene is never saved.
    """

    def __init__(self, config: Config, stage: Any = None, *, clock: Clock = utcnow) -> None:
        self.config = config
        self.clock = clock
        self._stage = stage
        self._owns_stage = stage is None
        self._lock = threading.RLock()
        self._storage_options: dict[str, str] = {}
        self._secrets: Any = None
        self.registry: SensorRegistry | None = None
        self.state: LatestState | None = None
        self.overlay: Any = None
        self.placer: Any = None
        self.watchers: dict[str, TableWatcher] = {}
        self.statuses: dict[str, str] = {}
        self.positions: dict[str, tuple[float, float, float]] = {}
        self.bindings: dict[str, str] = {}
        self.placement: dict[str, str] = {}
        self._meta: dict[str, tuple[str, str, str, str, str]] = {}
        self.layer_visible: dict[str, bool] = {}
        self.running = RunningStats()
        self.last_tick: TickStats | None = None
        self.last_update: datetime | None = None
        self.as_of: int | datetime | None = None
        self.connection = "connecting"
        self.reason = ""
        self.event_sources: tuple[str, ...] = ()
        self._aging = AgingSchedule()
        #: Delta version per table that the overlay and snapshots reflect.
        self.shown_versions: dict[str, int] = {}
        self._hint = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self.hub: Any = None
        self._opened = False
        self._resolver: Any = None
        self._closed = False
        self._missing: set[str] = set()
        from coptwin.annotations.fold import AnnotationBook

        #: Reviewers' notes folded from the annotations table.
        self.book = AnnotationBook()

    # ------------------------------------------------------------------ set-up
    @property
    def stage(self) -> Any:
        return self._stage

    def open(self) -> None:
        """Load sensors, index the scene, place markers and attach the overlay.

        Kit calls :meth:`prepare_open` in a worker thread and :meth:`commit_open`
        on its main thread instead, so the viewport never waits for storage.
        """
        if not self._opened:
            self.commit_open(self.prepare_open())

    def prepare_open(self) -> _Opening:
        """Blocking part of opening: storage, sensors table, scene index, placement.

        Reads the stage (USD allows concurrent reads) but writes nothing to it.
        """
        from coptwin.geo.frame import SceneFrame
        from coptwin.geo.index import SceneIndex
        from coptwin.geo.placement import Placer

        cfg = self.config
        apply_ca_bundle(cfg.storage)
        self._secrets = resolve_credentials(cfg.storage)
        self._storage_options = delta_storage_options(cfg.storage, self._secrets)
        watchers = {
            name: TableWatcher(
                cfg.table_uri(name),
                self._storage_options,
                full_load=newest_rows_per_sensor(cfg) if name == "readings" else None,
            )
            for name in ("readings", "sensors", "annotations")
            if getattr(cfg.tables, name) is not None
        }
        stage = self._stage if self._stage is not None else self._open_base_stage()
        scfg = cfg.scene
        placer = Placer(SceneFrame.from_stage(stage, scfg), SceneIndex.build(stage, scfg), scfg)
        sensors = self._build_sensors(watchers["sensors"].poll(), placer)
        self._adopt_sensors(sensors)
        return _Opening(stage, placer, watchers, sensors)

    def commit_open(self, opening: _Opening) -> None:
        """Stage-thread part of opening: attach the overlay and draw every sensor."""
        from coptwin.scene.overlay import Overlay

        with self._lock:
            if self._closed:  # closed while a worker was preparing: attach nothing
                return
            self._stage = opening.stage
            self.placer = opening.placer
            self.watchers = opening.watchers
            self.overlay = Overlay.attach(
                self._stage,
                root=self.config.scene.overlay_root,
                marker_size_m=self.config.scene.marker_size_m,
                marker_shapes={k: r.marker for k, r in self.config.rules.items() if r.marker},
                detail_time_budget_s=self.config.engine.main_thread_budget_ms / 1000.0,
            )
            if opening.sensors.batch is not None:
                self.overlay.stage_batch(opening.sensors.batch)
            self._draw_sensors(opening.sensors)
            self._opened = True

    def _open_base_stage(self) -> Any:
        from pxr import Usd

        if not self.config.scene.path:
            raise ValueError("scene.path is not configured and no stage was given")
        path = self.config.resolve_path(self.config.scene.path)
        if not path.is_file():
            raise ValueError(f"scene.path: no such file {path}")
        try:
            stage = Usd.Stage.Open(str(path), Usd.Stage.LoadAll)
        except Exception as exc:  # pxr.Tf.ErrorException: unreadable or not USD
            raise ValueError(f"scene.path: cannot open {path} as USD ({exc})") from None
        if stage is None:
            raise ValueError(f"scene.path: cannot open {path} as USD")
        return stage

    def _build_sensors(self, batch: Any, placer: Any) -> _Sensors:
        """Registry and placement from a sensors-table batch (worker-thread safe)."""
        frame = to_canonical(batch.data, self.config.tables.sensors, "sensors")
        registry = SensorRegistry.from_frame(frame, self.config)
        return _Sensors(registry, placer.place(registry.frame))

    def _adopt_sensors(self, sensors: _Sensors) -> None:
        """Adopt a new registry and placement and compute the batch that draws every
        sensor (worker-thread safe: no USD; the stage thread draws it)."""
        cfg = self.config
        registry, placed = sensors.registry, sensors.placed
        with self._lock:
            self.registry = registry
            if self.state is None:
                self.state = LatestState(
                    registry,
                    max_future_skew_s=cfg.engine.max_future_skew_s,
                    history_per_sensor=cfg.engine.history_per_sensor,
                )
            else:
                self.state.set_registry(registry)  # keeps readings of sensors that stay
            self.positions, self.bindings, self.placement = {}, {}, {}
            for row in placed.iter_rows(named=True):
                sid = row["sensor_id"]
                self.positions[sid] = (row["x"], row["y"], row["z"])
                self.bindings[sid] = row["prim_path"] or ""
                self.placement[sid] = row["placement"]
            # What a marker update needs that does not change between ticks.
            self._meta = {
                s.sensor_id: (
                    s.layer,
                    s.kind,
                    s.unit or "",
                    self.placement.get(s.sensor_id, "exact"),
                    self.bindings.get(s.sensor_id, ""),
                )
                for s in registry
            }
            sensors.layers = self._layer_rows_config()
            for name, _label, visible in sensors.layers:
                self.layer_visible.setdefault(name, visible)
            self.statuses = {}
            sensors.batch = self._updates_for(
                registry.ids, initial=True, full=True, now=self.clock()
            )

    def _draw_sensors(self, sensors: _Sensors) -> None:
        """Stage thread: layer labels and visibility, then the staged markers."""
        self.overlay.define_layers(
            [(n, lbl, self.layer_visible.get(n, v)) for n, lbl, v in sensors.layers]
        )
        self.overlay.flush()
        fallbacks = sum(1 for p in self.placement.values() if p != "exact")
        log.info(
            "loaded %d sensors in %d layers (%d placed by fallback)",
            len(sensors.registry),
            len(sensors.layers),
            fallbacks,
        )

    def _layer_rows_config(self) -> list[tuple[str, str, bool]]:
        rows: list[tuple[str, str, bool]] = [
            (layer.name, layer.label, layer.visible) for layer in self.config.layers
        ]
        known = {r[0] for r in rows}
        assert self.registry is not None
        for sensor in self.registry:
            if sensor.layer not in known:
                known.add(sensor.layer)
                rows.append((sensor.layer, sensor.layer.replace("_", " ").title(), True))
        return rows

    # ------------------------------------------------------------------ ticks
    def tick(self, tables: Iterable[str] | None = None) -> TickStats:
        """Read what is new and update the overlay, all in the caller's thread."""
        self.open()
        return self.commit(self.prepare(tables))

    def prepare(self, tables: Iterable[str] | None = None) -> PendingUpdate:
        """Blocking half of a tick (worker-thread safe): read, merge, evaluate."""
        if not self._opened:
            raise RuntimeError("Engine.prepare() before open()")
        t0 = time.perf_counter()
        wanted = set(tables) if tables is not None else set(self.watchers)
        pending = PendingUpdate()
        stats = pending.stats
        now = self.clock()
        if "sensors" in wanted:
            sbatch = self.watchers["sensors"].poll()
            if sbatch is not None and (sbatch.rows or sbatch.full_reload):
                # Sensors are few: a changed sensors table is re-read and re-placed whole.
                full = self.watchers["sensors"].snapshot()
                pending.sensors = self._build_sensors(full, self.placer)
                # Readings below are checked against the new registry, and their batch
                # is staged after the one that redraws every sensor.
                self._adopt_sensors(pending.sensors)
                with self._lock:
                    if self.overlay is not None and pending.sensors.batch is not None:
                        self.overlay.stage_batch(pending.sensors.batch)
        if "annotations" in wanted and "annotations" in self.watchers:
            pending.annotations = self._poll_annotations()
        changed: list[str] = []
        if "readings" in wanted and self.as_of is None:  # pinned to a time: live data waits
            watcher = self.watchers["readings"]
            before = watcher.applied_version
            batch = self._poll_optional(watcher, "readings")
            if batch is not None:
                rows = to_canonical(batch.data, self.config.tables.readings, "readings")
                with self._lock:
                    assert self.state is not None
                    if batch.full_reload:
                        self.state.reset()
                        stats.full_reload = True
                    result = self.state.apply(rows, now)
                changed = list(result.changed)
                stats.rows_read = batch.rows
                stats.rows_applied = result.rows_applied
                stats.skipped = dict(result.skipped)
                pending.versions_advanced = batch.to_version - (
                    before if before is not None else batch.to_version
                )
        stats.versions = self._versions()
        pending.updates = self._updates_for(
            changed, now=now, full=stats.full_reload, aging=self.as_of is None
        )
        stats.changed = len(pending.updates) if pending.updates is not None else 0
        with self._lock:  # bookkeeping and array patches here, USD writes in commit()
            if self.overlay is not None and pending.updates is not None:
                self.overlay.stage_batch(pending.updates)
                pending.updates = None
        stats.read_ms = (time.perf_counter() - t0) * 1000.0
        return pending

    def _poll_annotations(self) -> list[str] | None:
        """Fold new annotation events; returns changed note ids (None: redraw all)."""
        from coptwin.annotations.live import apply_batch

        # No note written yet: the table appears with the first one.
        batch = self._poll_optional(self.watchers["annotations"], "annotations")
        if batch is None:
            return []
        with self._lock:
            result = apply_batch(self.book, batch, self.config.tables.annotations)
        return None if batch.full_reload else list(result.changed)

    def _poll_optional(self, watcher: TableWatcher, name: str) -> Any:
        """Poll a table that may not exist yet (no sensor has reported): no data, no error."""
        from coptwin.delta import TableNotFoundError

        try:
            batch = watcher.poll()
        except TableNotFoundError:
            if watcher.applied_version is not None:
                raise  # it was there: storage trouble, not a fresh deployment
            if name not in self._missing:
                self._missing.add(name)
                log.warning("table %s does not exist yet; waiting for its first commit", name)
            return None
        self._missing.discard(name)
        return batch

    def _versions(self) -> dict[str, int]:
        return {
            name: w.applied_version
            for name, w in self.watchers.items()
            if w.applied_version is not None
        }

    def commit(self, pending: PendingUpdate) -> TickStats:
        """Stage-thread half of a tick: write the marker updates to the overlay."""
        t0 = time.perf_counter()
        stats = pending.stats
        with self._lock:
            if self.overlay is None:  # closed while a worker was preparing
                return stats
            if pending.updates is not None:
                self.overlay.stage_batch(pending.updates)
            if pending.sensors is not None:
                self._draw_sensors(pending.sensors)  # defines layers, then flushes
            else:
                self.overlay.flush()
            if pending.annotations is None or pending.annotations:
                self._draw_pins(pending.annotations)
        stats.scene_ms = (time.perf_counter() - t0) * 1000.0
        if self.as_of is None or pending.stats.full_reload:
            # What the overlay now shows (the watchers may already be further ahead).
            self.shown_versions.update(stats.versions)
        self.last_tick = stats
        self.running.add(stats, pending.versions_advanced)
        if not stats.idle:
            self.last_update = self.clock()
        self.connection, self.reason = "connected", ""
        return stats

    def _draw_pins(self, changed: list[str] | None) -> None:
        from coptwin.scene import pins

        if self._resolver is None:
            self._resolver = pins.TargetResolver(self._stage, self.positions.get)
        pins.apply(self.overlay, self.book, self._resolver, changed=changed)

    # ------------------------------------------------------------------ state → markers
    def _updates_for(
        self,
        sensor_ids: Iterable[str],
        *,
        now: datetime | None = None,
        full: bool = False,
        aging: bool = True,
        initial: bool = False,
    ) -> Any:
        """A MarkerBatch for the given sensors plus those whose status aged (or None).

        ``full`` re-evaluates every sensor (opening, full reloads, time travel) and
        rebuilds the aging schedule; otherwise only the given sensors and, with
        ``aging``, those whose stale/offline/idle deadline has passed are evaluated,
        so a tick's cost follows what changed, not the fleet.
        """
        from coptwin.scene.overlay import MarkerBatch

        now = now or self.clock()
        with self._lock:
            registry, state = self.registry, self.state
            assert registry is not None and state is not None
            ids = list(dict.fromkeys(sensor_ids))
            rules = rule_frame(registry, self.config)
            latest = None
            if full:
                by_quantity = state.latest_by_quantity
                statuses = evaluate(
                    state.latest, registry, self.config, now, by_quantity=by_quantity
                )
                aged = [s for s, st in statuses.items() if self.statuses.get(s) != st]
                ids = list(dict.fromkeys([*ids, *aged]))
                self._aging.clear()
                self._aging.schedule(by_quantity, rules, now)
            else:
                due = self._aging.due(now) if aging else []
                evaluated = list(dict.fromkeys([*ids, *due])) if due else ids
                if not evaluated:
                    return None
                latest = state.latest_for(evaluated)
                by_quantity = state.latest_by_quantity_for(evaluated)
                statuses = evaluate(
                    latest, registry, self.config, now, ids=evaluated, by_quantity=by_quantity
                )
                self._aging.schedule(by_quantity, rules, now)
                if due:
                    aged = [s for s in due if statuses.get(s) != self.statuses.get(s)]
                    ids = list(dict.fromkeys([*ids, *aged]))
            if not ids:
                return None
            # Sensors no longer registered (a reload dropped them) are left out.
            meta_get = self._meta.get
            metas = [meta_get(sid) for sid in ids]
            if None in metas:
                ids = [sid for sid, m in zip(ids, metas, strict=True) if m is not None]
                metas = [m for m in metas if m is not None]
            if not ids:
                return None
            cols = (latest if latest is not None else state.latest_for(ids)).to_dict(
                as_series=False
            )
            at_get = {sid: i for i, sid in enumerate(cols["sensor_id"])}.get
            rows = [at_get(sid) for sid in ids]
            moved = self._move_sensors(cols)
            if moved:
                self.positions.update(moved)
            positions = (
                {sid: self.positions[sid] for sid in ids if sid in self.positions}
                if initial
                else moved
            )
            status_list = [statuses.get(sid, "unknown") for sid in ids]
            self.statuses.update(zip(ids, status_list, strict=True))

            def column(name: str, empty: Any) -> list[Any]:
                col = cols[name]
                return [empty if r is None or col[r] is None else col[r] for r in rows]

            bound_of = self.bindings
            # The overlay writes coptwin:<quantity>, the building's worst status and
            # ts on the bound building; other quantities of the sensor come along.
            return MarkerBatch(
                sensor_ids=ids,
                layers=[m[0] for m in metas],
                kinds=[m[1] for m in metas],
                statuses=status_list,
                colors=color_array(status_list),
                values=column("value", None),
                units=[u or m[2] for u, m in zip(column("unit", ""), metas, strict=True)],
                ts=column("ts", None),
                quantities=column("quantity", ""),
                placements=[m[3] for m in metas],
                bound_prims=[m[4] for m in metas],
                positions=positions,
                building_attrs=self._other_quantities(
                    by_quantity, [sid for sid in ids if bound_of.get(sid)]
                ),
            )

    @staticmethod
    def _other_quantities(by_quantity: pl.DataFrame, ids: list[str]) -> dict[str, dict[str, float]]:
        """Latest value of every quantity a bound sensor reports, for its building.

        The marker shows the newest reading; the building carries one
        ``coptwin:<quantity>`` per quantity (a logger reporting temperature and
        humidity sets both).
        """
        if not ids or by_quantity.height == 0:
            return {}
        sub = by_quantity.filter(
            pl.col("sensor_id").is_in(pl.Series(ids, dtype=pl.Utf8).implode())
            & pl.col("value").is_not_null()
        )
        out: dict[str, dict[str, float]] = {}
        for sid, qty, value in zip(
            sub["sensor_id"].to_list(),
            sub["quantity"].to_list(),
            sub["value"].to_list(),
            strict=True,
        ):
            if qty:
                out.setdefault(sid, {})[qty] = value
        return out

    def _move_sensors(self, cols: dict[str, list[Any]]) -> dict[str, tuple[float, float, float]]:
        """Re-place sensors whose latest reading carries a position (GPS trackers)."""
        movers = [
            (sid, lon, lat)
            for sid, lon, lat in zip(cols["sensor_id"], cols["lon"], cols["lat"], strict=True)
            if lon is not None and lat is not None
        ]
        if not movers:
            return {}
        import numpy as np

        lon = np.array([m[1] for m in movers], dtype=float)
        lat = np.array([m[2] for m in movers], dtype=float)
        pts = self.placer.place_points(lon, lat, mount="ground")
        return {
            m[0]: (float(p[0]), float(p[1]), float(p[2])) for m, p in zip(movers, pts, strict=False)
        }

    # ------------------------------------------------------------------ UI surface
    def snapshot(self) -> EngineSnapshot:
        """An immutable picture of the COP for the panel, CLI summary and tests."""
        now = self.clock()
        with self._lock:
            registry = self.registry
            closed = self._closed and self.overlay is None
            status = EngineStatus(
                connection="disconnected" if closed else self.connection,  # type: ignore[arg-type]
                reason="engine closed" if closed else self.reason,
                event_sources=self.event_sources,
                last_update=self.last_update,
                versions=dict(self.shown_versions),
                last_tick_ms=self.last_tick.total_ms if self.last_tick else None,
                as_of=self.as_of,
                rows_read=self.running.rows_read,
                rows_skipped=dict(self.running.skipped),
            )
            if registry is None or self.state is None:
                return EngineSnapshot(status=status, now=now)
            latest = {r["sensor_id"]: r for r in self.state.latest.iter_rows(named=True)}
            sensors = []
            counts: dict[str, dict[str, int]] = {}
            for sensor in registry:
                st = self.statuses.get(sensor.sensor_id, "unknown")
                counts.setdefault(sensor.layer, {}).setdefault(st, 0)
                counts[sensor.layer][st] += 1
                row = latest.get(sensor.sensor_id, {})
                sensors.append(
                    SensorRow(
                        sensor_id=sensor.sensor_id,
                        name=sensor.name or sensor.sensor_id,
                        kind=sensor.kind,
                        layer=sensor.layer,
                        status=st,
                        value=row.get("value"),
                        unit=row.get("unit") or sensor.unit or "",
                        quantity=row.get("quantity") or "",
                        ts=row.get("ts"),
                        marker_path=self._marker_path(sensor.sensor_id),
                        bound_prim=self.bindings.get(sensor.sensor_id, ""),
                        placement=self.placement.get(sensor.sensor_id, "exact"),
                        position=self.positions.get(sensor.sensor_id),
                    )
                )
            layers = tuple(
                LayerRow(
                    name=name,
                    label=label,
                    visible=self.layer_visible.get(name, visible),
                    counts=counts.get(name, {}),
                )
                for name, label, visible in self._layer_rows_config()
            )
        return EngineSnapshot(status=status, layers=layers, sensors=tuple(sensors), now=now)

    def _marker_path(self, sensor_id: str) -> str:
        path = self.overlay.marker_path(sensor_id) if self.overlay is not None else None
        return str(path) if path is not None else ""

    def set_layer_visible(self, layer: str, visible: bool) -> None:
        """Operators toggle a sensor layer; the overlay's visibility follows."""
        self.layer_visible[layer] = visible
        if self.overlay is not None:
            self.overlay.set_layer_visible(layer, visible)

    def history(self, sensor_id: str) -> list[tuple[datetime, float]]:
        """Recent (ts, value) pairs of one sensor for the panel's plot."""
        with self._lock:
            return [] if self.state is None else list(self.state.history(sensor_id))

    def set_as_of(self, as_of: int | datetime | None) -> TickStats:
        """Show the COP as of a Delta version or a time; None returns to live."""
        self.open()
        return self.commit(self.prepare_as_of(as_of))

    async def set_as_of_async(self, as_of: int | datetime | None) -> TickStats:
        """:meth:`set_as_of` with the reading in a worker thread (for Kit's UI)."""
        return self.commit(await asyncio.to_thread(self.prepare_as_of, as_of))

    def prepare_as_of(self, as_of: int | datetime | None) -> PendingUpdate:
        """Blocking half of a time-travel jump (worker-thread safe)."""
        if not self._opened:
            raise RuntimeError("Engine.prepare_as_of() before open()")
        watcher = self.watchers["readings"]
        if as_of is None:
            with self._lock:
                assert self.state is not None
                self.state.reset()
                self.as_of = None
                watcher.reset()
            pending = self.prepare(["readings"])
            pending.stats.full_reload = True
            return pending
        t0 = time.perf_counter()
        if isinstance(as_of, datetime):
            when = as_of if as_of.tzinfo else as_of.replace(tzinfo=timezone.utc)
            batch = watcher.snapshot(timestamp=when)
        else:
            batch = watcher.snapshot(version=int(as_of))
            when = None
        rows = to_canonical(batch.data, self.config.tables.readings, "readings")
        with self._lock:
            assert self.state is not None and self.registry is not None
            self.as_of = as_of
            self.state.reset()
            if when is None:
                when = rows["ts"].max() if rows.height else None
                when = when or self.clock()
            result = self.state.apply(rows, when)
            pending = PendingUpdate()
            pending.updates = self._updates_for(self.registry.ids, now=when, full=True)
        pending.stats = TickStats(
            versions={"readings": batch.to_version},
            rows_read=batch.rows,
            rows_applied=result.rows_applied,
            skipped=dict(result.skipped),
            changed=len(pending.updates) if pending.updates is not None else 0,
            full_reload=True,
            read_ms=(time.perf_counter() - t0) * 1000.0,
        )
        return pending

    def set_annotations_visible(self, visible: bool) -> None:
        """Reviewers' pins are their own layer, toggled like the sensor layers."""
        from coptwin.scene import pins

        if self.overlay is not None:
            pins.set_visible(self.overlay, visible)

    # ------------------------------------------------------------------ export
    def export(self, overlay_path: str | Path, cop_path: str | Path | None = None) -> None:
        """Write the overlay (and optionally a COP root stage) next to the base scene."""
        from coptwin.scene.overlay import write_cop_root

        overlay_path = Path(overlay_path)
        overlay_path.parent.mkdir(parents=True, exist_ok=True)
        self.overlay.export(overlay_path)
        if cop_path is not None:
            base = self._stage.GetRootLayer().realPath
            write_cop_root(Path(cop_path), Path(base), overlay_path)

    def close(self) -> None:
        """Detach the overlay; the base scene is left as it was.

        Safe while a worker is still in :meth:`prepare`: its result is dropped.
        """
        with self._lock:
            self.hub = None
            if self.overlay is not None:
                self.overlay.detach()
                self.overlay = None
            self._resolver = None
            self._opened = False
            self._closed = True

    # ------------------------------------------------------------------ live loop
    def request_check(self, table: str = "readings") -> None:
        """Thread-safe hint that a table may have changed (events, UI, tests)."""
        self._hint.set()
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set or the engine is closed.

        Wakes on event hints and the poll interval; reading happens in worker
        threads, overlay writes on the loop's thread.  While storage is
        unreachable the status says why and retries back off exponentially
        (a hint still triggers an early retry); on recovery the watchers catch
        up from the last applied version, so nothing committed is missed.
        """
        stop = stop or asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        hub_task = self._start_hub(stop)
        backoff = 0.0
        try:
            while not stop.is_set() and not self._closed:
                try:
                    if not self._opened:
                        self.commit_open(await asyncio.to_thread(self.prepare_open))
                    self.commit(await asyncio.to_thread(self.prepare))
                    backoff = 0.0
                except Exception as exc:  # storage down, credentials rejected, bad log ...
                    backoff = min(max(backoff * 2, 0.5), 30.0)
                    self.connection = "disconnected"
                    self.reason = redact(f"{type(exc).__name__}: {exc}", self._secrets)[:300]
                    log.warning("engine disconnected (%s); retry in %.1fs", self.reason, backoff)
                await self._wait(stop, backoff or self._poll_interval())
        finally:
            if hub_task is not None:
                hub_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await hub_task
            self._loop = None

    def _poll_interval(self) -> float:
        poll = self.config.events.polling
        if self.hub is not None or not poll.enabled:
            return 3600.0  # the event hub polls (and falls back to polling) and wakes us
        return poll.interval_s * (1 + poll.jitter * (2 * random.random() - 1))

    async def _wait(self, stop: asyncio.Event, timeout: float) -> None:
        """Sleep until a hint, ``stop`` or the timeout.

        Hints are a flag, not a queue: any number arriving during a tick cause
        exactly one more tick (the event hub already coalesces bursts).
        """
        assert self._wake is not None
        if not self._hint.is_set():
            self._wake.clear()
            waiters = {
                asyncio.ensure_future(stop.wait()),
                asyncio.ensure_future(self._wake.wait()),
            }
            try:
                await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:  # also when this task is cancelled: leave no waiter behind
                for w in waiters:
                    w.cancel()
        self._hint.clear()

    def _start_hub(self, stop: asyncio.Event) -> asyncio.Task | None:
        """Start bucket-event sources when the events module is available."""
        cfg = self.config.events
        sources = []
        if cfg.webhook.enabled:
            sources.append("webhook")
        if cfg.mqtt.enabled:
            sources.append("mqtt")
        if cfg.polling.enabled or not sources:
            sources.append("polling")
        self.event_sources = tuple(sources)
        if not (cfg.webhook.enabled or cfg.mqtt.enabled):
            return None  # polling is the engine's own wait loop
        from coptwin.events import EventHub, table_prefixes

        self.hub = EventHub(
            self.config, table_prefixes(self.config), lambda hint: self.request_check(hint.table)
        )
        return asyncio.ensure_future(self.hub.run(stop))


def newest_rows_per_sensor(config: Config) -> Callable[[pl.LazyFrame], pl.LazyFrame]:
    """Full loads of the readings table keep only what the state can use.

    The latest-state model keeps, per sensor and quantity, the newest reading and
    at most ``history_per_sensor`` recent values: older rows cannot change it, so
    a cold start (or a reload after OPTIMIZE/RESTORE, or time travel) reads them
    lazily and drops them before materialising.  Rows without a sensor id or
    timestamp are kept so they are still counted as bad rows.
    """
    tc = config.tables.readings
    sid, ts, qty = tc.column("sensor_id"), tc.column("ts"), tc.column("quantity")
    keep = max(1, config.engine.history_per_sensor)

    def reduce(lazy: pl.LazyFrame) -> pl.LazyFrame:
        names = lazy.collect_schema().names()
        if sid not in names or ts not in names:
            return lazy  # to_canonical reports the missing column clearly
        group = [sid, qty] if qty in names else [sid]
        rank = pl.col(ts).rank("ordinal", descending=True).over(group)
        return lazy.filter((rank <= keep) | pl.col(ts).is_null() | pl.col(sid).is_null())

    return reduce


__all__ = ["Engine", "PendingUpdate", "TickStats", "newest_rows_per_sensor"]
