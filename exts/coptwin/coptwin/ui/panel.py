"""The whole panel's state: one object the omni.ui window binds to.

``PanelVM`` pulls an :class:`~coptwin.engine.snapshot.EngineSnapshot` from the
engine, feeds the status, layers, sensors, selection, detail and time
view-models, and reports which parts changed so the window repaints only
those.  It never touches omni.ui; the Kit layer hands it plain callables
(select prims, frame the viewport, read a prim's attributes).

The notes section (reviewers' annotations, :class:`AnnotationsVM`) is bound
to the engine's own :class:`~coptwin.annotations.fold.AnnotationBook`, so the
list, the pins and every other session show the same fold.  Writes are Delta
commits: the ``*_note`` actions are coroutines that run the commit in a
worker thread (Kit's main thread must not wait on storage) and then ask the
engine to read the annotations table at once, which folds the new event and
redraws its pin.  The book is mutated by the engine's workers under the
engine's lock, so every read of it here holds that lock too.

The alarms section (:class:`AlarmsVM`) shows the snapshot's open alarms; its actions
(Ack, Shelve…, Unshelve) are commits through the alarms store in a worker thread,
after which the engine is asked to read the alarms table at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from ..engine.snapshot import EngineSnapshot, EngineStatus
from .alarms_vm import AlarmsPanel, AlarmsVM
from .annotations_vm import AnnotationsVM, NoteRow
from .detail import BuildingAttributes, DetailVM
from .layers import LayersVM
from .picking import Pick, Vec3
from .selection import Frame, SelectionIndex, SelectionSync, SelectPrims
from .sensors import SensorsTableVM, TableView
from .status import DEFAULT_STALE_AFTER_S, StatusLine, format_status, idle_status_line
from .time_travel import TimeVM

log = logging.getLogger(__name__)


class EngineLike(Protocol):
    """The part of :class:`coptwin.engine.Engine` the panel uses."""

    def snapshot(self) -> EngineSnapshot: ...

    def set_layer_visible(self, layer: str, visible: bool) -> None: ...

    async def set_as_of_async(self, when: int | datetime | None) -> Any: ...

    def history(self, sensor_id: str) -> Sequence[tuple[datetime, float]]: ...


@dataclass(frozen=True)
class PanelChanges:
    """Which parts of the panel need repainting after a call."""

    status: bool = False
    layers: bool = False
    sensors: bool = False
    selection: bool = False
    detail: bool = False
    notes: bool = False
    alarms: bool = False

    @property
    def any(self) -> bool:
        return any(dataclasses.astuple(self))

    def __or__(self, other: PanelChanges) -> PanelChanges:
        return PanelChanges(
            *(
                a or b
                for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)
            )
        )


@dataclass(frozen=True)
class PreparedRefresh:
    """What :meth:`PanelVM.prepare_refresh` computed off the main thread."""

    engine: Any
    snapshot: EngineSnapshot | None
    now: datetime
    table: TableView
    index: SelectionIndex
    names: dict[str, str]
    markers: dict[str, str]


@dataclass(frozen=True)
class NotesView:
    """Everything the notes section shows, computed once per refresh or action."""

    #: False: no notes here (no engine, or no annotations table); ``reason`` says why.
    enabled: bool = False
    reason: str = "the COP is not running"
    rows: tuple[NoteRow, ...] = ()
    counts: dict[str, int] = field(default_factory=lambda: {"open": 0, "resolved": 0, "all": 0})
    scope: str = "selection"
    status_filter: str = "open"
    add_label: str = ""
    can_add: bool = False
    author: str = ""
    error: str = ""
    #: A write is running in a worker thread.
    busy: bool = False
    #: The thread whose pin was picked in the viewport.
    focused: str | None = None
    #: The clicked point notes attach to, as text ("" for none).
    point: str = ""


def _sensor_for_path(engine: Any) -> Callable[[str], str | None]:
    """Prim path -> sensor id through the engine's overlay *when asked*: the overlay
    is attached after the engine is bound (its run loop opens it)."""

    def lookup(path: str) -> str | None:
        overlay = getattr(engine, "overlay", None)
        find = getattr(overlay, "sensor_for_path", None)
        return find(path) if find is not None else None

    return lookup


def _instancers(engine: Any) -> dict[str, str]:
    """Marker instancer path -> sensor layer, from the engine's overlay (read when asked)."""
    overlay = getattr(engine, "overlay", None)
    return overlay.instancers() if overlay is not None else {}


def _sensor_for_instance(engine: Any) -> Callable[[str, int], str | None]:
    def lookup(instancer: str, index: int) -> str | None:
        overlay = getattr(engine, "overlay", None)
        return overlay.sensor_for_instance(instancer, index) if overlay is not None else None

    return lookup


def _marker_size(engine: Any) -> float:
    """A marker's size in stage units (config metres over the stage's metres per unit)."""
    overlay = getattr(engine, "overlay", None)
    scene = getattr(getattr(engine, "config", None), "scene", None)
    metres = float(getattr(scene, "marker_size_m", 0.0) or 0.0)
    mpu = float(getattr(overlay, "meters_per_unit", 0.0) or 0.0)
    return metres / mpu if metres > 0 and mpu > 0 else 1.0


def parse_point(text: str) -> tuple[float, float, float]:
    """'1.5, 2, 30' or '1.5 2 30' -> (x, y, z) in stage coordinates; ValueError when not."""
    parts = text.replace(",", " ").split()
    if len(parts) != 3:
        raise ValueError(f"{text!r} is not a point: give x, y, z in stage coordinates")
    try:
        return (float(parts[0]), float(parts[1]), float(parts[2]))
    except ValueError:
        raise ValueError(f"{text!r} is not a point: x, y and z must be numbers") from None


class PanelVM:
    """State of the coptwin panel, refreshed from the engine on a timer."""

    def __init__(
        self,
        select_prims: SelectPrims | None = None,
        frame_selection: Frame | None = None,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        hide_rows_of_hidden_layers: bool = True,
        author: str = "",
    ) -> None:
        self.stale_after_s = stale_after_s
        #: Who the notes written from this panel are signed by.
        self.author = author.strip()
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
        #: The notes section's view-model (None: no engine or no annotations table).
        self.notes: AnnotationsVM | None = None
        self.notes_view = NotesView()
        self._notes_reason = NotesView().reason
        #: The alarms section's view-model (None: no engine or no alarms table).
        self.alarms: AlarmsVM | None = None
        self.alarms_view = AlarmsPanel()
        self._alarms_reason = AlarmsPanel().reason
        self._sensor_names: dict[str, str] = {}
        self._markers: dict[str, str] = {}
        self._pushed_for_notes: list[str] | None = None
        #: Sections ("notes", "alarms") with a write under way: one at a time each.
        self._busy: set[str] = set()
        self._now = datetime.now(timezone.utc)
        #: Replaced views waiting to be freed off the main thread (by the next prepare).
        self._retired: list[Any] = []

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
        self._pushed_for_notes = None
        if engine is None:
            self.layers.bind(None)
            self.time.bind(None)
            self.selection.bind(self._select_prims, self._frame, None)
            self.detail.bind(None, None)
            self.notes, self._notes_reason = None, "the COP is not running"
            self.alarms, self._alarms_reason = None, "the COP is not running"
        else:
            self.notes, self._notes_reason = self._make_notes(engine)
            self.alarms, self._alarms_reason = self._make_alarms(engine)
            notes_toggle = getattr(engine, "set_annotations_visible", None)
            self.layers.bind(
                engine.set_layer_visible, notes_toggle if self.notes is not None else None
            )
            self.time.bind(engine.set_as_of_async)
            self.selection.bind(
                self._select_prims,
                self._frame,
                _sensor_for_path(engine),
                instancers=lambda: _instancers(engine),
                sensor_for_instance=_sensor_for_instance(engine),
                marker_size=_marker_size(engine),
            )
            self.detail.bind(engine.history, building_attributes)
        self._update_notes_view()
        self._update_alarms_view()

    # --- notes wiring ---------------------------------------------------------------

    def _make_notes(self, engine: Any) -> tuple[AnnotationsVM | None, str]:
        """The notes view-model over ``engine``'s book, or None and why not."""
        config = getattr(engine, "config", None)
        tables = getattr(config, "tables", None)
        if not hasattr(engine, "book") or tables is None:
            return None, "this engine keeps no notes"
        if getattr(tables, "annotations", None) is None:
            return None, "no annotations table is configured (tables.annotations)"
        from ..annotations.store import AnnotationStore
        from ..annotations.targets import TargetCheck

        try:
            store: AnnotationStore | None = AnnotationStore.from_config(config)
        except Exception as exc:  # a bad table config leaves the notes readable
            log.warning("notes are read-only: %s", exc)
            store = None

        def known_sensor(sensor_id: str) -> bool:
            registry = getattr(engine, "registry", None)
            return registry is not None and sensor_id in registry

        def check(target: str) -> Any:
            # The engine's stage is read when checking (main thread), not captured:
            # an engine that opened its own scene sets it only when it opens.
            return TargetCheck(known_sensor, getattr(engine, "stage", None))(target)

        def sensor_for_path(path: str) -> str | None:
            if path in self._markers:
                return self._markers[path]
            return _sensor_for_path(engine)(path)

        def pins_scope() -> str | None:
            overlay = getattr(engine, "overlay", None)
            if overlay is None:
                return None
            from ..scene.pins import scope_path

            return str(scope_path(overlay))

        def echo(_event: Any) -> None:
            # Thread-safe: the engine's next tick folds the event and draws its pin.
            engine.request_check("annotations")

        vm = AnnotationsVM(
            lambda: engine.book,
            store,
            author=self.author,
            check=check,
            sensor_for_path=sensor_for_path,
            sensor_name=lambda sensor_id: self._sensor_names.get(sensor_id),
            pins_scope=pins_scope() or _default_pins_scope(config),
            echo=echo,
        )
        return vm, ""

    def _make_alarms(self, engine: Any) -> tuple[AlarmsVM | None, str]:
        """The alarm list over ``engine``'s snapshots, and its store; None and why not."""
        tables = getattr(getattr(engine, "config", None), "tables", None)
        if tables is None or not hasattr(engine, "alarms"):
            return None, "this engine keeps no alarms"
        if getattr(tables, "alarms", None) is None:
            return None, "no alarms table is configured (tables.alarms)"
        from ..alarms.store import AlarmStore

        try:
            store: AlarmStore | None = AlarmStore.from_config(engine.config)
        except Exception as exc:  # a bad table config leaves the list readable
            log.warning("alarms are read-only: %s", exc)
            store = None
        return AlarmsVM(store, author=self.author, echo=lambda: engine.request_check("alarms")), ""

    def _update_alarms_view(self) -> bool:
        """Recompute what the alarms section shows; True when it changed."""
        if self.alarms is None:
            view = AlarmsPanel(enabled=False, reason=self._alarms_reason)
        else:
            view = self.alarms.panel(busy="alarms" in self._busy)
        changed = view != self.alarms_view
        self.alarms_view = view
        return changed

    def _book_lock(self) -> AbstractContextManager[Any]:
        """The engine's lock: its workers fold new note events into the book under it."""
        lock = getattr(self.engine, "lock", None)
        return lock if lock is not None else contextlib.nullcontext()

    def _update_notes_view(self) -> bool:
        """Recompute what the notes section shows; True when it changed."""
        notes = self.notes
        if notes is None:
            view = NotesView(enabled=False, reason=self._notes_reason)
        else:
            with self._book_lock():
                rows = tuple(notes.rows())
                counts = notes.counts()
            point = notes.clicked_point
            view = NotesView(
                enabled=True,
                reason="",
                rows=rows,
                counts=counts,
                scope=notes.scope,
                status_filter=notes.status_filter,
                add_label=notes.add_label(),
                can_add=notes.add_target() is not None and "notes" not in self._busy,
                author=notes.author,
                error=notes.error,
                busy="notes" in self._busy,
                focused=notes.focused,
                point="{:g}, {:g}, {:g}".format(*point) if point is not None else "",
            )
        changed = view != self.notes_view
        self.notes_view = view
        return changed

    def _refresh_notes(self) -> tuple[bool, bool]:
        """(layers changed, notes changed) after the engine may have folded new notes."""
        counts = None
        if self.notes is not None:
            with self._book_lock():
                counts = self.notes.counts()
        return self.layers.update_notes(counts), self._update_notes_view()

    def refresh(self, now: datetime | None = None) -> PanelChanges:
        """Pull a snapshot and update every part; returns what changed."""
        return self.apply_refresh(self.prepare_refresh(now))

    def prepare_refresh(self, now: datetime | None = None) -> PreparedRefresh:
        """The O(sensors) half of a refresh: snapshot, table, path maps (any thread).

        Reads the engine (under its lock) and this panel's settings, changes
        nothing here: the Kit panel runs it in a worker thread and applies the
        result on the main thread with :meth:`apply_refresh`.
        """
        retired, self._retired = self._retired, []
        del retired  # the previous refresh's objects are freed here, not on the main thread
        engine = self.engine
        snapshot = self._snapshot()
        now = now or (snapshot.now if snapshot and snapshot.now else datetime.now(timezone.utc))
        rows = snapshot.sensors if snapshot is not None else ()
        hidden = (
            frozenset(lr.name for lr in snapshot.layers if not lr.visible)
            if snapshot is not None and self.hide_rows_of_hidden_layers
            else frozenset()
        )
        return PreparedRefresh(
            engine=engine,
            snapshot=snapshot,
            now=now,
            table=self.sensors.prepare(rows, now, hidden),
            index=SelectionSync.index(rows),
            names={r.sensor_id: r.name for r in rows if r.name},
            markers={r.marker_path: r.sensor_id for r in rows if r.marker_path},
        )

    def apply_refresh(self, prepared: PreparedRefresh) -> PanelChanges:
        """The main-thread half: adopt what :meth:`prepare_refresh` computed.

        Costs O(changed rows + layers + notes), not O(sensors).  A result
        prepared for an engine the panel no longer shows is dropped.
        """
        if prepared.engine is not self.engine:
            return PanelChanges()
        snapshot, now = prepared.snapshot, prepared.now
        self._now = now
        if snapshot is None:
            status = idle_status_line(self.idle_reason)
            layers_changed = self.layers.update(())
        else:
            status = (
                idle_status_line(self.idle_reason)
                if self.idle_reason
                else format_status(snapshot.status, now, self.stale_after_s, snapshot.alarms)
            )
            layers_changed = self.layers.update(snapshot.layers)
        # What this replaces is retired, to be freed by the next prepare: dropping
        # 10k rows here would cost the main thread more than the rest of the refresh.
        self._retired.append((self.sensors.view, self.selection.current_index()))
        self._retired.append((self._sensor_names, self._markers))
        sensors_changed = self.sensors.adopt(prepared.table)
        selection_changed = self.selection.adopt(prepared.index)
        row = self.selection.selected_row()
        hidden = self.layers.hidden_layers() if self.hide_rows_of_hidden_layers else set()
        if row is not None and row.layer in hidden:
            # its layer was hidden: the marker is gone, so is the selection
            self.selection.select_row(None, frame=False)
            selection_changed = True
        status_changed = status != self.status
        self.status = status
        detail_changed = self.detail.show(self.selection.selected_row(), now)
        self._sensor_names = prepared.names
        self._markers = prepared.markers
        notes_layer_changed, notes_changed = self._refresh_notes()
        if self.alarms is not None:
            self.alarms.update(snapshot.alarms if snapshot else None, prepared.names)
        return PanelChanges(
            status_changed,
            layers_changed or notes_layer_changed,
            sensors_changed,
            selection_changed,
            detail_changed,
            notes_changed,
            self._update_alarms_view(),
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

    def select_row(self, sensor_id: str | None, frame: bool = True) -> PanelChanges:
        """The user picked a row: select and frame its prim, show its detail and notes."""
        before = self.selection.selected
        # The stage echoes the prims we push (a marker-less sensor pushes its
        # building); that echo must not re-target the notes to the building.
        self._pushed_for_notes = self.selection.prim_paths_for(sensor_id) if sensor_id else []
        if self.engine is not None:
            self.selection.marker_size = _marker_size(self.engine)
        self.selection.select_row(sensor_id, frame=frame)
        selected = self.selection.selected
        if self.notes is not None:
            self.notes.select_targets([f"sensor:{selected}"] if selected else [])
        detail_changed = self.detail.show(self.selection.selected_row(), self._now)
        return PanelChanges(
            selection=before != self.selection.selected,
            detail=detail_changed,
            notes=self._update_notes_view(),
        )

    def on_viewport_pick(self, path: str, world: Vec3 | None) -> PanelChanges:
        """A click in the viewport hit ``path`` at ``world`` (Kit's pick query answered).

        A click on a marker instance selects its sensor's row and puts the sensor's
        data prim on the stage selection (in place of the whole instancer).
        """
        if self.engine is not None:
            self.selection.marker_size = _marker_size(self.engine)
        before = self.selection.selected
        sensor = self.selection.on_pick(Pick(str(path), world))
        if sensor is None or not self.selection.is_instancer_path(str(path)):
            return PanelChanges()  # the selection event handles data prims and buildings
        return self._after_marker_pick(sensor, before)

    def _after_marker_pick(self, sensor: str, before: str | None) -> PanelChanges:
        self._pushed_for_notes = self.selection.push(sensor)
        if self.notes is not None:
            with self._book_lock():
                self.notes.on_stage_selection(list(self._pushed_for_notes))
        sensors_changed = self._show_row(sensor)
        return PanelChanges(
            sensors=sensors_changed,
            selection=before != sensor,
            detail=self.detail.show(self.selection.selected_row(), self._now),
            notes=self._update_notes_view(),
        )

    def _show_row(self, sensor: str | None) -> bool:
        """Clear the filter when it hides the selected sensor's row; True when it did."""
        if sensor and self.sensors.index_of(sensor) is None:
            self.sensors.set_filter("")
            return True
        return False

    def on_stage_selection(self, paths: Sequence[str]) -> PanelChanges:
        """The viewport selection changed: select the matching row and notes, if any."""
        before = self.selection.selected
        if paths and self.selection.is_instancer_path(str(paths[-1])):
            # Kit selected a whole marker instancer: the pick query says which marker
            # (if it has not answered yet, its answer selects the row).
            sensor = self.selection.sensor_for_prim(str(paths[-1]))
            if sensor is None:
                return PanelChanges()
            self.selection.selected = sensor
            return self._after_marker_pick(sensor, before)
        notes_changed = self._notes_follow_stage(paths)
        if not self.selection.on_stage_selection(paths):
            return PanelChanges(notes=notes_changed)
        sensors_changed = self._show_row(self.selection.selected)
        detail_changed = self.detail.show(self.selection.selected_row(), self._now)
        return PanelChanges(
            sensors=sensors_changed, selection=True, detail=detail_changed, notes=notes_changed
        )

    def _notes_follow_stage(self, paths: Sequence[str]) -> bool:
        pushed, self._pushed_for_notes = self._pushed_for_notes, None
        if self.notes is None or (pushed is not None and list(paths) == pushed):
            return False
        with self._book_lock():
            self.notes.on_stage_selection([str(p) for p in paths])
        return self._update_notes_view()

    async def toggle_layer(self, name: str, visible: bool) -> PanelChanges:
        """Show or hide a layer, then refresh (off the main thread) so the table follows."""
        if not self.layers.toggle(name, visible):
            return PanelChanges(layers=True)
        changes = await self._refresh_off_thread()
        return changes | PanelChanges(layers=True, sensors=True)

    def set_filter(self, text: str) -> PanelChanges:
        return PanelChanges(sensors=self.sensors.set_filter(text))

    def sort_by(self, column: str) -> PanelChanges:
        self.sensors.set_sort(column)
        return PanelChanges(sensors=True)

    async def apply_as_of(self, text: str) -> PanelChanges:
        """Show the COP as of ``text`` (a version or a UTC time); read in a worker thread."""
        if self._still_opening():
            self.time.text = text
            self.time.refuse("the COP is still opening; try again when it shows Connected")
            return PanelChanges(status=True)
        await self.time.apply(text)
        return await self._after_time_change()

    async def go_live(self) -> PanelChanges:
        if self._still_opening():
            self.time.text = ""
            return PanelChanges(status=True)
        await self.time.go_live()
        return await self._after_time_change()

    def _still_opening(self) -> bool:
        """An engine that has not attached its overlay yet has nothing to travel in."""
        return self.engine is not None and getattr(self.engine, "overlay", True) is None

    # --- notes ----------------------------------------------------------------------

    def toggle_notes_layer(self, visible: bool) -> PanelChanges:
        """Show or hide every annotation pin (the Annotations layer row)."""
        self.layers.toggle_notes(visible)
        return PanelChanges(layers=True)

    def set_notes_filter(self, status: str) -> PanelChanges:
        """'open', 'resolved' or 'all' threads."""
        if self.notes is not None:
            self.notes.set_status_filter(status)  # type: ignore[arg-type]
        return PanelChanges(notes=self._update_notes_view())

    def set_notes_scope(self, scope: str) -> PanelChanges:
        """Notes of the 'selection' or 'all' notes."""
        if self.notes is not None:
            self.notes.set_scope(scope)  # type: ignore[arg-type]
        return PanelChanges(notes=self._update_notes_view())

    def set_note_author(self, name: str) -> PanelChanges:
        """Who signs notes and alarm actions from this panel."""
        self.author = name.strip()
        if self.notes is not None:
            self.notes.set_author(name)
        if self.alarms is not None:
            self.alarms.author = self.author
        return PanelChanges(notes=self._update_notes_view(), alarms=self._update_alarms_view())

    def set_note_point(self, text: str) -> PanelChanges:
        """Attach the next note to a point typed or picked as 'x, y, z' ('' clears it)."""
        if self.notes is not None:
            if not text.strip():
                self.notes.set_clicked_point(None)
            else:
                try:
                    self.notes.set_clicked_point(parse_point(text))
                    self.notes.error = ""
                except ValueError as exc:
                    self.notes.error = str(exc)
        return PanelChanges(notes=self._update_notes_view())

    async def add_note(self, text: str) -> PanelChanges:
        """Add a note to the selected sensor/building or the point (commit off the main thread)."""
        notes = self.notes
        if notes is None:
            return PanelChanges(notes=self._update_notes_view())
        if "notes" in self._busy:
            return self._refuse_busy("notes", notes)
        target = notes.checked_target()  # reads the stage: here, on the caller's thread
        if target is None:
            return PanelChanges(notes=self._update_notes_view())
        return await self._write(lambda vm: vm.add(text, target=target))

    async def reply_note(self, annotation_id: str, text: str) -> PanelChanges:
        """Reply to a thread with ``text``."""
        return await self._write(lambda notes: notes.reply(annotation_id, text))

    async def edit_note(self, annotation_id: str, text: str) -> PanelChanges:
        """Replace a note's text (the old text stays in the table's history)."""
        return await self._write(lambda notes: notes.edit(annotation_id, text))

    async def resolve_note(self, annotation_id: str) -> PanelChanges:
        return await self._write(lambda notes: notes.resolve(annotation_id))

    async def reopen_note(self, annotation_id: str) -> PanelChanges:
        return await self._write(lambda notes: notes.reopen(annotation_id))

    async def _write(self, action: Callable[[AnnotationsVM], bool]) -> PanelChanges:
        """One note write (the view-model hands the written event to the engine, whose
        next tick folds it into the book and draws the pin)."""
        return await self._one_write("notes", self.notes, action)

    def _repaint(self, section: str) -> PanelChanges:
        update = self._update_notes_view if section == "notes" else self._update_alarms_view
        return PanelChanges(**{section: update()})

    def _refuse_busy(self, section: str, vm: AnnotationsVM | AlarmsVM) -> PanelChanges:
        what = "note" if section == "notes" else "action"
        vm.error = f"still saving the previous {what}; try again in a moment"
        return self._repaint(section)

    async def _one_write(
        self, section: str, vm: Any, action: Callable[[Any], bool]
    ) -> PanelChanges:
        """Run one write of ``section`` ("notes", "alarms") in a worker thread (a Delta
        commit); one at a time per section, the view showing it busy meanwhile."""
        if vm is None:
            return PanelChanges()
        if section in self._busy:
            return self._refuse_busy(section, vm)
        self._busy.add(section)
        self._repaint(section)
        try:
            await asyncio.to_thread(action, vm)
        finally:
            self._busy.discard(section)
        self._repaint(section)
        return PanelChanges(**{section: True})

    # --- alarms ---------------------------------------------------------------------

    def select_alarm(self, alarm_id: str) -> PanelChanges:
        """Select (and frame) the sensor of an alarm in the list."""
        item = self.alarms.item(alarm_id) if self.alarms is not None else None
        if item is None:
            return PanelChanges()
        return self.select_row(item.sensor_id)

    def open_shelve(self, alarm_id: str) -> PanelChanges:
        """Show the Shelve… form (reason, until) for an alarm."""
        if self.alarms is not None:
            self.alarms.open_shelve(alarm_id)
        return PanelChanges(alarms=self._update_alarms_view())

    def cancel_shelve(self) -> PanelChanges:
        if self.alarms is not None:
            self.alarms.cancel_shelve()
        return PanelChanges(alarms=self._update_alarms_view())

    async def ack_alarm(self, alarm_id: str, note: str | None = None) -> PanelChanges:
        return await self._alarm_write(lambda vm: vm.ack(alarm_id, note))

    async def shelve_alarm(self, reason: str, until: str) -> PanelChanges:
        """Shelve the alarm whose form is open until ``until`` ("8h" or a time)."""
        return await self._alarm_write(lambda vm: vm.shelve(reason, until))

    async def unshelve_alarm(self, alarm_id: str) -> PanelChanges:
        return await self._alarm_write(lambda vm: vm.unshelve(alarm_id))

    async def _alarm_write(self, action: Callable[[AlarmsVM], bool]) -> PanelChanges:
        return await self._one_write("alarms", self.alarms, action)

    async def _refresh_off_thread(self) -> PanelChanges:
        """A refresh right after a user action: O(sensors) in a worker, the rest here."""
        return self.apply_refresh(await asyncio.to_thread(self.prepare_refresh, self._now))

    async def _after_time_change(self) -> PanelChanges:
        changes = await self._refresh_off_thread()
        return changes | PanelChanges(status=True, detail=True)


def _default_pins_scope(config: Any) -> str | None:
    """Where the pins will be before the overlay is attached (``<overlay_root>/Annotations``)."""
    root = getattr(getattr(config, "scene", None), "overlay_root", None)
    if not root:
        return None
    from ..scene.pins import SCOPE_NAME

    return f"{str(root).rstrip('/')}/{SCOPE_NAME}"
