"""The engine: hint -> read only what is new -> latest state -> status -> overlay.

One tick has two halves so Kit's viewport never stalls:

* :meth:`Engine.prepare` does everything that may block (Delta log, parquet
  decode, and the reading -> colour steps of :mod:`coptwin.engine.steps`: merge,
  evaluate, colour, batch) and is safe to run in a worker thread;
* :meth:`Engine.commit` writes the staged markers into the USD overlay and must
  run on the thread that owns the stage.

:meth:`Engine.tick` does both in the caller's thread and writes every sensor's
detail (CLI, tests);
:meth:`Engine.run` is the asyncio loop of :mod:`coptwin.engine.loop` (Kit,
``coptwin run``); :meth:`Engine.snapshot` is :func:`coptwin.engine.snapshot.build_snapshot`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
from pxr import Usd

from coptwin.annotations.fold import AnnotationBook
from coptwin.config import Config, ConfigError
from coptwin.delta import DeltaBatch, DeltaWatchError, TableNotFoundError, TableWatcher
from coptwin.engine import loop, steps
from coptwin.engine.alarms import EngineAlarms
from coptwin.engine.snapshot import (
    ConnectionState,
    EngineSnapshot,
    PositionMap,
    SensorColumns,
    SensorRow,
    Shown,
    build_snapshot,
    sensor_columns,
)
from coptwin.engine.stats import RunningStats, TickStats
from coptwin.engine.time_travel import CopAsOf, cop_as_of
from coptwin.events import EventHub
from coptwin.geo.errors import SceneError
from coptwin.geo.frame import SceneFrame
from coptwin.geo.index import SceneIndex
from coptwin.geo.placement import Placer
from coptwin.geo.stage import open_stage
from coptwin.model.columns import SchemaError, to_canonical
from coptwin.model.quality import rule_frame
from coptwin.model.registry import SensorRegistry
from coptwin.model.state import LatestState
from coptwin.scene import pins
from coptwin.scene.layer_file import remove_leftovers
from coptwin.scene.overlay import MarkerBatch, Overlay, write_cop_root
from coptwin.storage import (
    Credentials,
    apply_ca_bundle,
    delta_storage_options,
    redact,
    resolve_credentials,
)

log = logging.getLogger(__name__)


Clock = Callable[[], datetime]
_NONE = np.zeros(0, dtype=np.int64)
#: (name, label, visible) of a sensor layer
LayerDef = tuple[str, str, bool]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _Sensors:
    """A sensors table read and placed; once adopted, its layers and the batch that
    draws every sensor (computed off the stage thread)."""

    registry: SensorRegistry
    placed: pl.DataFrame
    layers: list[LayerDef] = field(default_factory=list)
    batch: MarkerBatch | None = None


@dataclass
class PendingUpdate:
    """Result of :meth:`Engine.prepare`, handed to :meth:`Engine.commit`."""

    stats: TickStats = field(default_factory=TickStats)
    versions_advanced: int = 0
    #: A re-read sensors table whose layers and markers commit() draws.
    sensors: _Sensors | None = None
    #: Changed annotation ids to redraw; None redraws every pin.
    annotations: list[str] | None = field(default_factory=list)


@dataclass
class _Opening:
    """Result of :meth:`Engine.prepare_open`, handed to :meth:`Engine.commit_open`."""

    stage: Usd.Stage
    watchers: dict[str, TableWatcher]
    sensors: _Sensors


class Engine:
    """Kit-free COP engine over one config and one USD stage.

    ``stage`` is the stage to decorate (Kit passes its own); when None the
    engine opens ``config.scene.path`` itself.  The base scene is never saved.
    """

    def __init__(
        self,
        config: Config,
        stage: Usd.Stage | None = None,
        *,
        clock: Clock = utcnow,
        notify: bool = False,
    ):
        self.config = config
        self.clock = clock
        #: This engine sends the alarm notifications (coptwin.engine.alarms.sends_notifications).
        self.notify = notify
        self._stage = stage
        #: Guards everything below; workers and the stage thread share it.
        self.lock = threading.RLock()
        self._storage_options: dict[str, str] = {}
        #: The storage credentials, so messages can be redacted.
        self.secrets: Credentials | None = None
        self.registry: SensorRegistry | None = None
        self.state: LatestState | None = None
        self.overlay: Overlay | None = None
        self.placer: Placer | None = None
        self.watchers: dict[str, TableWatcher] = {}
        #: Per registry sensor, what a marker needs that does not change between ticks.
        self.facts = steps.SensorFacts.empty()
        #: ... and what a snapshot row needs of it (None until the sensors are read).
        self.sensor_columns: SensorColumns | None = None
        #: Status and reason per registry sensor, and the aging schedule.
        self.verdicts = steps.Verdicts()
        #: Where each sensor's marker is, ``(n, 3)`` stage coordinates in registry order
        #: (NaN: not placed).  Replaced, never written in place (snapshots keep it).
        self.xyz = np.zeros((0, 3))
        #: What each sensor's row shows and when it last changed (see Shown).
        self.shown = Shown.empty(0, 0)
        #: Revision of the engine's per-sensor state: one more per tick that changed a row.
        self.revision = 0
        #: Snapshot rows already made, reused while their row has not changed (per
        #: sensors table; see coptwin.engine.snapshot.SensorTable).
        self.made_rows: dict[int, tuple[int, SensorRow]] = {}
        self.layer_visible: dict[str, bool] = {}
        self.running = RunningStats()
        self.last_tick: TickStats | None = None
        self.last_update: datetime | None = None
        self.as_of: int | datetime | None = None
        self.connection: ConnectionState = "connecting"
        self.reason = ""
        self.event_sources: tuple[str, ...] = ()
        #: Delta version per table that the overlay and snapshots reflect.
        self.shown_versions: dict[str, int] = {}
        self.wakeup = loop.Wakeup()
        self.hub: EventHub | None = None
        self.opened = False
        self.closed = False
        #: Where opening went, seconds: stage (opening it, or the worker's copy),
        #: scene_index (frame and index), sensors (read, place, first marker batch).
        self.open_seconds: dict[str, float] = {}
        self._resolver: pins.TargetResolver | None = None
        self._missing: set[str] = set()
        #: Files :meth:`export` wrote or skipped since start (leftovers removed once).
        self._exported_to: set[Path] = set()
        #: Reviewers' notes folded from the annotations table.
        self.book = AnnotationBook()
        #: Operators' alarms (None: no alarms table configured).
        self.alarms: EngineAlarms | None = None
        #: Called with the tick's stats at the end of every :meth:`commit`, on the
        #: stage thread (the browser COP's push wakes up here); must not block.
        self.on_commit: list[Callable[[TickStats], None]] = []
        self._layer_rows: list[LayerDef] | None = None

    # ------------------------------------------------------------------ set-up
    @property
    def stage(self) -> Usd.Stage | None:
        return self._stage

    def open(self) -> None:
        """Load sensors, index the scene, place markers and attach the overlay.

        Kit calls :meth:`prepare_open` in a worker thread and :meth:`commit_open`
        on its main thread instead, so the viewport never waits for storage.
        """
        if not self.opened:
            with self.explained():
                self.commit_open(self.prepare_open())

    def explain(self, exc: BaseException, *, storage: bool) -> ConfigError | None:
        """``exc`` as a :class:`ConfigError` naming the config file and key, when it is
        about something the config names: the scene (``scene.*``) and column mappings
        always; with ``storage``, a table that cannot be read (``tables.<name>``) too.
        None otherwise.  The live loop asks without ``storage`` (it retries those); the
        one-shot callers (``open``, ``tick``, ``set_as_of``: the CLI) ask with it."""
        if isinstance(exc, ConfigError):
            return exc
        if isinstance(exc, (SceneError, SchemaError)):
            return self.config.error(exc.key or "scene.path", exc.what)
        if storage and isinstance(exc, DeltaWatchError):
            return self.config.error(self._table_key(exc.uri), redact(str(exc), self.secrets))
        return None

    @contextlib.contextmanager
    def explained(self, *, storage: bool = True) -> Iterator[None]:
        """Raise what :meth:`explain` explains as that ConfigError (chained)."""
        try:
            yield
        except Exception as exc:
            problem = self.explain(exc, storage=storage)
            if problem is None or problem is exc:
                raise
            raise problem from exc

    def _table_key(self, uri: str) -> str:
        tables = self.config.tables
        for name in ("readings", "sensors", "annotations", "alarms"):
            if getattr(tables, name, None) is not None and self.config.table_uri(name) == uri:
                return f"tables.{name}"
        return "storage.uri"

    def prepare_open(self, scene_reader: Callable[[], Usd.Stage] | None = None) -> _Opening:
        """Blocking part of opening: storage, sensors table, scene index, placement.

        ``scene_reader`` gives the stage to index (from a worker thread: a private
        copy, see :mod:`coptwin.scene.worker_stage`); None reads the engine's stage.
        """
        cfg = self.config
        apply_ca_bundle(cfg.storage)
        self.secrets = resolve_credentials(cfg.storage)
        self._storage_options = delta_storage_options(cfg.storage, self.secrets)
        watchers = {
            name: TableWatcher(
                cfg.table_uri(name),
                self._storage_options,
                full_load=newest_rows_per_sensor(cfg) if name == "readings" else None,
            )
            for name in ("readings", "sensors", "annotations", "alarms")
            if getattr(cfg.tables, name) is not None
        }
        if cfg.tables.alarms is not None and self.alarms is None:
            self.alarms = EngineAlarms(cfg, self._storage_options, notify=self.notify)
        t0 = time.perf_counter()
        with self.explained(storage=False):  # a bad scene is the config's, at once
            stage = self._stage if self._stage is not None else self._open_base_stage()
            scfg = cfg.scene
            scene = scene_reader() if scene_reader is not None else stage
            t_stage = time.perf_counter()
            # The tables load while the scene is indexed: that is mostly one thread of
            # Python, while opening a stage keeps every core busy already.
            for watcher in watchers.values():
                watcher.prefetch()
            placer = Placer(SceneFrame.from_stage(scene, scfg), SceneIndex.build(scene, scfg), scfg)
        t_index = time.perf_counter()
        sensors = self._read_sensors(watchers["sensors"].poll(), placer)
        with self.lock:
            self.placer = placer  # moving sensors are placed from the first batch on
            self._adopt_sensors(sensors)
        self.open_seconds = {
            "stage": t_stage - t0,
            "scene_index": t_index - t_stage,
            "sensors": time.perf_counter() - t_index,
        }
        log.info(
            "opened in %.1f s (%s)",
            sum(self.open_seconds.values()),
            ", ".join(f"{k} {v:.1f}" for k, v in self.open_seconds.items()),
        )
        return _Opening(stage, watchers, sensors)

    def commit_open(self, opening: _Opening) -> None:
        """Stage-thread part of opening: attach the overlay and draw every sensor.

        Idempotent: closed meanwhile, or opened already (a second worker's open
        finished), it attaches nothing."""
        with self.lock:
            if self.closed or self.opened:
                return
            self._stage = opening.stage
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
            self.opened = True

    def _open_base_stage(self) -> Usd.Stage:
        if not self.config.scene.path:
            raise self.config.error("scene.path", "not configured and no stage was given")
        return open_stage(self.config.resolve_path(self.config.scene.path))

    def _read_sensors(self, batch: DeltaBatch, placer: Placer) -> _Sensors:
        """Registry and placement from a sensors-table batch (worker-thread safe)."""
        frame = to_canonical(batch.data, self.config.tables.sensors, "sensors")
        registry = SensorRegistry.from_frame(frame, self.config)
        return _Sensors(registry, placer.place(registry.frame))

    def _adopt_sensors(self, sensors: _Sensors) -> None:
        """Adopt a new registry and placement and compute the batch that draws every
        sensor (worker-thread safe: no USD; the stage thread draws it)."""
        cfg = self.config
        registry, placed = sensors.registry, sensors.placed
        with self.lock:
            self.registry = registry
            if self.state is None:
                self.state = LatestState(
                    registry,
                    max_future_skew_s=cfg.engine.max_future_skew_s,
                    history_per_sensor=cfg.engine.history_per_sensor,
                )
            else:
                self.state.set_registry(registry)  # keeps readings of sensors that stay
            self.facts = steps.sensor_facts(registry, placed)
            self.sensor_columns = sensor_columns(registry, self.facts)
            self.xyz = steps.sensor_positions(registry, placed)
            self.verdicts = steps.Verdicts(rule_frame(registry, cfg))
            if self.alarms is not None:
                self.alarms.set_sensors(registry.ids, self.facts.kind, self.facts.layer)
            self.revision += 1
            self.shown = Shown.empty(len(registry), self.revision)
            self.made_rows = {}
            self._layer_rows = None
            sensors.layers = self.layer_rows()
            for name, _label, visible in sensors.layers:
                self.layer_visible.setdefault(name, visible)
            sensors.batch = self._redraw(None, self.clock(), everyone=True)

    def _draw_sensors(self, sensors: _Sensors) -> None:
        """Stage thread: layer labels and visibility, then the staged markers."""
        assert self.overlay is not None
        self.overlay.define_layers(
            [(n, lbl, self.layer_visible.get(n, v)) for n, lbl, v in sensors.layers]
        )
        self.overlay.flush()
        fallbacks = int((self.facts.placement != "exact").sum())
        log.info(
            "loaded %d sensors in %d layers (%d placed by fallback)",
            len(sensors.registry),
            len(sensors.layers),
            fallbacks,
        )

    @property
    def positions(self) -> PositionMap:
        """Sensor id -> marker position (stage coordinates) of the placed sensors."""
        index = self.sensor_columns.index if self.sensor_columns is not None else {}
        return PositionMap(index, self.xyz)

    def layer_rows(self) -> list[LayerDef]:
        """The configured layers, then any layer a sensor names that the config lacks."""
        if self._layer_rows is not None:
            return self._layer_rows
        rows: list[LayerDef] = [
            (layer.name, layer.label, layer.visible) for layer in self.config.layers
        ]
        known = {r[0] for r in rows}
        if self.registry is not None:
            for name in self.registry.frame["layer"].unique(maintain_order=True).to_list():
                if name not in known:
                    known.add(name)
                    rows.append((name, name.replace("_", " ").title(), True))
        self._layer_rows = rows
        return rows

    # ------------------------------------------------------------------ ticks
    def tick(self, tables: Iterable[str] | None = None) -> TickStats:
        """Read what is new and update the overlay, all in the caller's thread, with
        every sensor's detail written (no frame to keep smooth: CLI, tests)."""
        self.open()
        with self.explained():
            return self._complete(self.commit(self.prepare(tables)))

    def _complete(self, stats: TickStats) -> TickStats:
        """Write the details the main-thread budget left queued (synchronous callers)."""
        t0 = time.perf_counter()
        with self.lock:
            if self.overlay is not None:
                self.overlay.flush_details()
        stats.scene_ms += (time.perf_counter() - t0) * 1000.0
        return stats

    def prepare(self, tables: Iterable[str] | None = None) -> PendingUpdate:
        """Blocking half of a tick (worker-thread safe): read, then the reading ->
        colour steps; the resulting batch is staged in the overlay (no USD writes)."""
        if not self.opened:
            raise RuntimeError("Engine.prepare() before open()")
        t0 = time.perf_counter()
        wanted = set(tables) if tables is not None else set(self.watchers)
        pending = PendingUpdate()
        stats = pending.stats
        now = self.clock()
        if "sensors" in wanted:
            pending.sensors = self._poll_sensors()
        if "annotations" in wanted and "annotations" in self.watchers:
            pending.annotations = self._poll_annotations()
        if "alarms" in wanted and self.alarms is not None:  # before readings: raise vs repeat
            batch = self._poll_optional(self.watchers["alarms"], "alarms")
            with self.lock:
                self.alarms.fold_table(batch, self.config.tables.alarms, now)
        changed = _NONE
        if "readings" in wanted and self.as_of is None:  # pinned to a time: live data waits
            watcher = self.watchers["readings"]
            before = watcher.applied_version
            batch = self._poll_optional(watcher, "readings")
            if batch is not None:
                rows = to_canonical(batch.data, self.config.tables.readings, "readings")
                with self.lock:
                    assert self.state is not None
                    result = steps.merge(self.state, rows, now, reset=batch.full_reload)
                changed = result.changed_idx
                stats.note_batch(batch)
                stats.rows_read = batch.rows
                stats.rows_applied = result.rows_applied
                stats.skipped = dict(result.skipped)
                pending.versions_advanced = batch.to_version - (
                    before if before is not None else batch.to_version
                )
        stats.versions = self._versions()
        with self.lock:  # bookkeeping and array patches here, USD writes in commit()
            marker_batch = self._redraw(changed, now, everyone=stats.full_reload)
            stats.changed = len(marker_batch) if marker_batch is not None else 0
            if self.overlay is not None and marker_batch is not None:
                self.overlay.stage_batch(marker_batch)
        if self.alarms is not None:
            self.alarms.flush()  # the table append, outside the lock
        stats.read_ms = (time.perf_counter() - t0) * 1000.0
        return pending

    def _poll_sensors(self) -> _Sensors | None:
        """A changed sensors table is re-read and re-placed whole (sensors are few)."""
        watcher = self.watchers["sensors"]
        batch = watcher.poll()
        if batch is None or not (batch.rows or batch.full_reload):
            return None
        assert self.placer is not None
        sensors = self._read_sensors(watcher.snapshot(), self.placer)
        # Readings of this tick are checked against the new registry, and their batch
        # is staged after the one that redraws every sensor.
        self._adopt_sensors(sensors)
        with self.lock:
            if self.overlay is not None and sensors.batch is not None:
                self.overlay.stage_batch(sensors.batch)
        return sensors

    def _poll_annotations(self) -> list[str] | None:
        """Fold new annotation events; returns changed note ids (None: redraw all)."""
        # No note written yet: the table appears with the first one.
        batch = self._poll_optional(self.watchers["annotations"], "annotations")
        if batch is None:
            return []
        with self.lock:
            result = self.book.apply_batch(batch, self.config.tables.annotations)
        return None if batch.full_reload else list(result.changed)

    def _poll_optional(self, watcher: TableWatcher, name: str) -> DeltaBatch | None:
        """Poll a table that may not exist yet (no sensor has reported): no data, no error."""
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
        """Stage-thread half of a tick: write the staged markers to the overlay."""
        t0 = time.perf_counter()
        stats = pending.stats
        with self.lock:
            if self.overlay is None:  # closed while a worker was preparing
                return stats
            if pending.sensors is not None:
                self._draw_sensors(pending.sensors)  # defines layers, then flushes
            else:
                self.overlay.flush()
            if pending.annotations is None or pending.annotations:
                self._draw_pins(pending.annotations)
            self._draw_rings()
        stats.scene_ms = (time.perf_counter() - t0) * 1000.0
        if self.as_of is None or pending.stats.full_reload:
            # What the overlay now shows (the watchers may already be further ahead).
            self.shown_versions.update(stats.versions)
        self.last_tick = stats
        self.running.add(stats, pending.versions_advanced)
        if not stats.idle:
            self.last_update = self.clock()
        self.connection, self.reason = "connected", ""
        for callback in list(self.on_commit):
            try:
                callback(stats)
            except Exception:  # a listener's bug must not stop the engine
                log.exception("on_commit listener failed")
        return stats

    def _draw_rings(self) -> None:
        if self.alarms is not None and self.overlay is not None:
            size = self.config.scene.marker_size_m
            self.alarms.draw(self.overlay, size, self.positions, self.layer_visible)

    def _draw_pins(self, changed: list[str] | None) -> None:
        if self._resolver is None:
            self._resolver = pins.TargetResolver(self._stage, lambda sid: self.positions.get(sid))
        pins.apply(self.overlay, self.book, self._resolver, changed=changed)

    # ------------------------------------------------------------------ reading -> colour
    def _redraw(
        self, changed: np.ndarray | None, now: datetime, *, everyone: bool = False
    ) -> MarkerBatch | None:
        """Steps 2-4 after a merge (evaluate, colour, batch): the markers to redraw for
        the ``changed`` sensors (registry indices; None: all), those whose status aged
        and, with ``everyone``, every sensor at its position; None when no marker changes.
        Statuses do not age while the COP is pinned to a time.  Publishes the rows
        snapshots read (:class:`Shown`).  Call with the lock held."""
        assert self.state is not None and self.placer is not None
        judged = steps.evaluate(
            self.state,
            self.config,
            self.verdicts,
            now,
            changed,
            everyone=everyone,
            aging=self.as_of is None,
        )
        if self.alarms is not None and self.as_of is None:  # the past raises nothing
            self.alarms.judge(judged.rows if judged else None, now, self.verdicts.reason)
        if judged is None:
            return None
        moved, where = steps.moved_positions(judged, self.placer)
        return self._publish(judged, moved, where, everyone=everyone)

    def _publish(
        self, judged: steps.Judged, moved: np.ndarray, where: np.ndarray, *, everyone: bool
    ) -> MarkerBatch:
        """The marker batch of ``judged`` (at every sensor's position with ``everyone``,
        else moving only the sensors ``moved`` to ``where``) and the rows snapshots read
        (:class:`Shown`); the live tick and time travel alike.  Call with the lock held."""
        if moved.size:
            xyz = self.xyz.copy()
            xyz[moved] = where
            self.xyz = xyz
        if everyone:
            positions = self.xyz[judged.idx]
        else:  # markers stay where they are, but for the redrawn sensors that moved
            positions = np.full((judged.idx.size, 3), np.nan)
            hit = np.isin(moved, judged.idx)
            positions[np.searchsorted(judged.idx, moved[hit])] = where[hit]
        batch = steps.marker_batch(judged, self.state, self.verdicts, self.facts, positions)
        self.revision += 1
        self.shown = self.shown.patched(
            judged.idx,
            self.revision,
            batch.values,
            batch.ts,
            batch.quantities,
            batch.units,
            moved,
        )
        return batch

    # ------------------------------------------------------------------ time travel
    def set_as_of(self, as_of: int | datetime | None) -> TickStats:
        """Show the COP as of a Delta version or a time; None returns to live (in the
        caller's thread, every detail written, like :meth:`tick`)."""
        self.open()
        with self.explained():
            return self._complete(self.commit(self.prepare_as_of(as_of)))

    async def set_as_of_async(self, as_of: int | datetime | None) -> TickStats:
        """:meth:`set_as_of` with the reading in a worker thread (for Kit's UI)."""
        return self.commit(await asyncio.to_thread(self.prepare_as_of, as_of))

    def prepare_as_of(self, as_of: int | datetime | None) -> PendingUpdate:
        """Blocking half of a time-travel jump (worker-thread safe)."""
        if not self.opened:
            raise RuntimeError("Engine.prepare_as_of() before open()")
        watcher = self.watchers["readings"]
        if as_of is None:
            with self.lock:
                assert self.state is not None
                self.state.reset()
                self.as_of = None
                watcher.reset()
                if self.alarms is not None:
                    self.alarms.show_as_of(None)  # live again
            pending = self.prepare(["readings"])
            pending.stats.full_reload = True
            return pending
        t0 = time.perf_counter()
        cop = self.cop_as_of(as_of)
        pending = PendingUpdate()
        with self.lock:  # install it as the COP shown (the web keeps its own per viewer)
            self.as_of = as_of
            self.state, self.verdicts = cop.state, cop.verdicts
            if self.alarms is not None:
                self.alarms.show_as_of(cop.alarms, cop.when)
            marker_batch = None
            if cop.judged is not None:
                marker_batch = self._publish(cop.judged, cop.moved, cop.moved_xyz, everyone=True)
            if self.overlay is not None and marker_batch is not None:
                self.overlay.stage_batch(marker_batch)
        pending.stats = TickStats(
            versions={"readings": cop.version},
            rows_read=cop.batch.rows,
            rows_applied=cop.applied.rows_applied,
            skipped=dict(cop.applied.skipped),
            changed=len(marker_batch) if marker_batch is not None else 0,
            read_ms=(time.perf_counter() - t0) * 1000.0,
        )
        pending.stats.note_batch(cop.batch)
        return pending

    def cop_as_of(self, as_of: int | datetime) -> CopAsOf:
        """Blocking (a worker thread): the COP as of a Delta version or a time with this
        engine's registry, placement and alarms (:func:`coptwin.engine.time_travel.cop_as_of`);
        nothing is installed: :meth:`prepare_as_of` shows it, the web page keeps one per
        viewer."""
        if not self.opened:
            raise RuntimeError("the engine has not loaded the sensors yet")
        with self.lock:
            registry, placer = self.registry, self.placer
        assert registry is not None
        alarms = self.alarms.live if self.alarms is not None else None
        readings = self.watchers["readings"]
        return cop_as_of(
            self.config, registry, readings, placer, as_of, alarms=alarms, lock=self.lock
        )

    # ------------------------------------------------------------------ UI surface
    def snapshot(self) -> EngineSnapshot:
        """An immutable picture of the COP for the panel, CLI summary and tests."""
        return build_snapshot(self)

    def set_layer_visible(self, layer: str, visible: bool) -> None:
        """Operators toggle a sensor layer; the overlay's visibility follows."""
        self.layer_visible[layer] = visible
        if self.overlay is not None:
            self.overlay.set_layer_visible(layer, visible)
            self._draw_rings()

    def set_annotations_visible(self, visible: bool) -> None:
        """Reviewers' pins are their own layer, toggled like the sensor layers."""
        if self.overlay is not None:
            pins.set_visible(self.overlay, visible)

    def history(self, sensor_id: str) -> list[tuple[datetime, float | None]]:
        """Recent (ts, value) pairs of one sensor for the panel's plot."""
        with self.lock:
            return [] if self.state is None else list(self.state.history(sensor_id))

    # ------------------------------------------------------------------ export
    def export(self, overlay_path: str | Path, cop_path: str | Path | None = None) -> bool:
        """Write the overlay (and optionally a COP root stage) next to the base scene,
        when the COP shows a state that was read; returns whether it wrote.

        Until the first read succeeds, and while reads fail, the files stay as they
        were: a restart never replaces the last good overlay with one where every
        sensor is "unknown", and an outage does not turn every sensor "offline" in it.
        The first call removes temporary files a killed writer left behind.
        """
        targets = [Path(p) for p in (overlay_path, cop_path) if p is not None]
        for target in targets:
            if target not in self._exported_to:
                self._exported_to.add(target)
                remove_leftovers(target)
        if self.overlay is None or self._stage is None or self.connection != "connected":
            why = self.reason or "no state read yet"
            log.info("overlay not written (%s); %s stays as it was", why, targets[0])
            return False
        self.overlay.export(overlay_path)
        if cop_path is not None:
            base = self._stage.GetRootLayer().realPath
            write_cop_root(Path(cop_path), Path(base), Path(overlay_path))
        return True

    def close(self) -> None:
        """Detach the overlay; the base scene is left as it was.

        Safe while a worker is still in :meth:`prepare`: its result is dropped.
        """
        with self.lock:
            self.hub = None
            if self.overlay is not None:
                self.overlay.detach()
                self.overlay = None
            self._resolver = None
            self.opened = False
            self.closed = True
        if self.alarms is not None:
            self.alarms.close()  # stops the notifier (its thread), outside the lock

    # ------------------------------------------------------------------ live loop
    def request_check(self, table: str | None = None) -> None:
        """Thread-safe hint that ``table`` (None: any table) may have changed; the
        next tick checks it (events, UI, tests)."""
        self.wakeup.request(table)

    async def run(self, stop: asyncio.Event | None = None, *, mount_webhook: bool = False) -> None:
        """Run until ``stop`` is set or the engine is closed (see :mod:`coptwin.engine.loop`;
        ``mount_webhook``: a web server mounts the webhook route, ``coptwin serve``)."""
        await loop.run(self, stop, mount_webhook=mount_webhook)


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
