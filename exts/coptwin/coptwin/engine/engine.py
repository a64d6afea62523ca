"""The engine: hint -> read only what is new -> latest state -> status -> overlay.

One tick has two halves so Kit's viewport never stalls:

* :meth:`Engine.prepare` does everything that may block (Delta log, parquet
  decode, and the reading -> colour steps of :mod:`coptwin.engine.steps`: merge,
  evaluate, colour, batch) and is safe to run in a worker thread;
* :meth:`Engine.commit` writes the staged markers into the USD overlay and must
  run on the thread that owns the stage.

:meth:`Engine.tick` does both in the caller's thread (CLI, tests);
:meth:`Engine.run` is the asyncio loop of :mod:`coptwin.engine.loop` (Kit,
``coptwin run``); :meth:`Engine.snapshot` is :func:`coptwin.engine.snapshot.build_snapshot`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
from pxr import Usd

from coptwin.annotations.fold import AnnotationBook
from coptwin.annotations.live import apply_batch
from coptwin.config import Config
from coptwin.delta import DeltaBatch, TableNotFoundError, TableWatcher
from coptwin.engine import loop, steps
from coptwin.engine.snapshot import ConnectionState, EngineSnapshot, build_snapshot
from coptwin.engine.stats import RunningStats, TickStats
from coptwin.events import EventHub
from coptwin.geo.frame import SceneFrame
from coptwin.geo.index import SceneIndex
from coptwin.geo.placement import Placer
from coptwin.model.columns import to_canonical
from coptwin.model.registry import SensorRegistry
from coptwin.model.rules import rule_frame
from coptwin.model.state import LatestState
from coptwin.scene import pins
from coptwin.scene.overlay import MarkerBatch, Overlay, write_cop_root
from coptwin.storage import (
    Credentials,
    apply_ca_bundle,
    delta_storage_options,
    resolve_credentials,
)

log = logging.getLogger(__name__)


Clock = Callable[[], datetime]
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

    def __init__(self, config: Config, stage: Usd.Stage | None = None, *, clock: Clock = utcnow):
        self.config = config
        self.clock = clock
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
        #: Status and reason per registry sensor, and the aging schedule.
        self.verdicts = steps.Verdicts()
        #: Where each sensor's marker is (stage coordinates).
        self.positions: dict[str, steps.Position] = {}
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
        #: Reviewers' notes folded from the annotations table.
        self.book = AnnotationBook()
        #: Called with the tick's stats at the end of every :meth:`commit`, on the
        #: stage thread (the browser COP's push wakes up here); must not block.
        self.on_commit: list[Callable[[TickStats], None]] = []

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
            self.commit_open(self.prepare_open())

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
            for name in ("readings", "sensors", "annotations")
            if getattr(cfg.tables, name) is not None
        }
        t0 = time.perf_counter()
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
            self.positions = {
                sid: (x, y, z) for sid, x, y, z in placed.select("sensor_id", "x", "y", "z").rows()
            }
            self.verdicts = steps.Verdicts(rule_frame(registry, cfg))
            sensors.layers = self.layer_rows()
            for name, _label, visible in sensors.layers:
                self.layer_visible.setdefault(name, visible)
            sensors.batch = self._redraw(registry.ids, self.clock(), everyone=True)

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

    def layer_rows(self) -> list[LayerDef]:
        """The configured layers, then any layer a sensor names that the config lacks."""
        rows: list[LayerDef] = [
            (layer.name, layer.label, layer.visible) for layer in self.config.layers
        ]
        known = {r[0] for r in rows}
        if self.registry is not None:
            for name in self.registry.frame["layer"].unique(maintain_order=True).to_list():
                if name not in known:
                    known.add(name)
                    rows.append((name, name.replace("_", " ").title(), True))
        return rows

    # ------------------------------------------------------------------ ticks
    def tick(self, tables: Iterable[str] | None = None) -> TickStats:
        """Read what is new and update the overlay, all in the caller's thread."""
        self.open()
        return self.commit(self.prepare(tables))

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
        changed: list[str] = []
        if "readings" in wanted and self.as_of is None:  # pinned to a time: live data waits
            watcher = self.watchers["readings"]
            before = watcher.applied_version
            batch = self._poll_optional(watcher, "readings")
            if batch is not None:
                rows = to_canonical(batch.data, self.config.tables.readings, "readings")
                with self.lock:
                    assert self.state is not None
                    result = steps.merge(self.state, rows, now, reset=batch.full_reload)
                changed = result.changed
                stats.full_reload = batch.full_reload
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
            result = apply_batch(self.book, batch, self.config.tables.annotations)
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

    def _draw_pins(self, changed: list[str] | None) -> None:
        if self._resolver is None:
            self._resolver = pins.TargetResolver(self._stage, self.positions.get)
        pins.apply(self.overlay, self.book, self._resolver, changed=changed)

    # ------------------------------------------------------------------ reading -> colour
    def _redraw(
        self, changed: list[str], now: datetime, *, everyone: bool = False
    ) -> MarkerBatch | None:
        """Steps 2-4 after a merge (evaluate, colour, batch): the markers to redraw for
        the ``changed`` sensors, those whose status aged and, with ``everyone``, every
        sensor at its position; None when no marker changes.  Statuses do not age
        while the COP is pinned to a time.  Call with the lock held."""
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
        if judged is None:
            return None
        moved = steps.moved_positions(judged.latest, self.placer)
        self.positions.update(moved)
        return steps.marker_batch(
            judged, self.state, self.facts, self.positions if everyone else moved
        )

    # ------------------------------------------------------------------ time travel
    def set_as_of(self, as_of: int | datetime | None) -> TickStats:
        """Show the COP as of a Delta version or a time; None returns to live."""
        self.open()
        return self.commit(self.prepare_as_of(as_of))

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
        pending = PendingUpdate()
        with self.lock:
            assert self.state is not None and self.registry is not None
            self.as_of = as_of
            if when is None:
                when = (rows["ts"].max() if rows.height else None) or self.clock()
            result = steps.merge(self.state, rows, when, reset=True)
            marker_batch = self._redraw(self.registry.ids, when, everyone=True)
            if self.overlay is not None and marker_batch is not None:
                self.overlay.stage_batch(marker_batch)
        pending.stats = TickStats(
            versions={"readings": batch.to_version},
            rows_read=batch.rows,
            rows_applied=result.rows_applied,
            skipped=dict(result.skipped),
            changed=len(marker_batch) if marker_batch is not None else 0,
            full_reload=True,
            read_ms=(time.perf_counter() - t0) * 1000.0,
        )
        return pending

    # ------------------------------------------------------------------ UI surface
    def snapshot(self) -> EngineSnapshot:
        """An immutable picture of the COP for the panel, CLI summary and tests."""
        return build_snapshot(self)

    def set_layer_visible(self, layer: str, visible: bool) -> None:
        """Operators toggle a sensor layer; the overlay's visibility follows."""
        self.layer_visible[layer] = visible
        if self.overlay is not None:
            self.overlay.set_layer_visible(layer, visible)

    def set_annotations_visible(self, visible: bool) -> None:
        """Reviewers' pins are their own layer, toggled like the sensor layers."""
        if self.overlay is not None:
            pins.set_visible(self.overlay, visible)

    def history(self, sensor_id: str) -> list[tuple[datetime, float | None]]:
        """Recent (ts, value) pairs of one sensor for the panel's plot."""
        with self.lock:
            return [] if self.state is None else list(self.state.history(sensor_id))

    # ------------------------------------------------------------------ export
    def export(self, overlay_path: str | Path, cop_path: str | Path | None = None) -> None:
        """Write the overlay (and optionally a COP root stage) next to the base scene."""
        if self.overlay is None or self._stage is None:
            raise RuntimeError("Engine.export() before open()")
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
        with self.lock:
            self.hub = None
            if self.overlay is not None:
                self.overlay.detach()
                self.overlay = None
            self._resolver = None
            self.opened = False
            self.closed = True

    # ------------------------------------------------------------------ live loop
    def request_check(self, table: str | None = None) -> None:
        """Thread-safe hint that ``table`` (None: any table) may have changed; the
        next tick checks it (events, UI, tests)."""
        self.wakeup.request(table)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set or the engine is closed (see :mod:`coptwin.engine.loop`)."""
        await loop.run(self, stop)


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
