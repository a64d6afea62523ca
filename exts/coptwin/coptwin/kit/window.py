"""The coptwin panel: an omni.ui window painting a :class:`~coptwin.ui.panel.PanelVM`.

All decisions (texts, order, filtering, selection) are made by the Kit-free
view-models; this class lays widgets out and forwards user input.  Parts are
repainted only when the view-model says they changed.

Note writes (Delta commits) and time-travel jumps (Delta reads) are the
panel's coroutines: a button schedules one on Kit's asyncio loop (the storage
work runs in a worker thread) and repaints when it is done.  The note text
field and its buttons live outside the rebuilt notes list, so a note arriving
from another session never takes the keyboard focus away from someone typing.
Note texts are shown with ``ui.Label``, which draws plain text and interprets
no markup.  The alarm list sits right under the status line (operators first): each
alarm with Ack, Shelve… and Unshelve; the Shelve… form (reason, until) lives outside
the rebuilt list, like the note field, and a badge beside the status line counts the
alarms awaiting acknowledgement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import omni.ui as ui

from ..ui.alarms_vm import AlarmItem
from ..ui.annotations_vm import NoteRow
from ..ui.layers import legend
from ..ui.panel import PanelChanges, PanelVM
from . import style
from .sensors_table import SensorsDelegate, SensorsItemModel

log = logging.getLogger(__name__)

TITLE = "coptwin COP"

_NOTE_STATUSES = (("open", "Open"), ("resolved", "Resolved"), ("all", "All"))
#: A row button: label, offered (False: not shown), what a click does.
Action = tuple[str, bool, Callable[[], object]]
#: What each row button does, in its tooltip.
_TOOLTIPS = {
    "Ack": "Acknowledge: I have seen it, I am on it",
    "Shelve…": "Mute it until a time, with a reason",
    "Unshelve": "End the shelving now",
    "Reply": "Reply with the text in the note field below",
    "Resolve": "Mark the thread resolved",
    "Reopen": "Open the thread again",
}


def _field(label: str, model: ui.AbstractValueModel, identifier: str, tooltip: str) -> None:
    """A dim label and its text field, in the row being built."""
    ui.Label(label, width=style.LABEL_WIDTH // 2, name="dim")
    ui.StringField(model=model, identifier=identifier, tooltip=tooltip)


def _buttons(actions: Iterable[Action], width: int, busy: bool) -> None:
    """The offered actions of a list row, disabled while a write is under way."""
    for label, offered, clicked in actions:
        if offered:
            tooltip = _TOOLTIPS[label]
            ui.Button(label, width=width, enabled=not busy, tooltip=tooltip, clicked_fn=clicked)


def _toggles(options: Iterable[tuple[str, str]], current: str, choose: Callable) -> None:
    """One button per ``(value, label)``; the ``current`` one shows as on."""
    for value, label in options:
        ui.Button(
            label,
            width=0,
            name="toggle_on" if value == current else "toggle",
            clicked_fn=lambda v=value: choose(v),
        )


def _off(view: Any, what: str) -> bool:
    """``<what> are off: <why>.`` when the view is disabled (True: nothing else to build)."""
    if view.enabled:
        return False
    ui.Label(f"{what} are off: {view.reason}.", name="dim", word_wrap=True, height=0)
    return True


class CoptwinWindow(ui.Window):
    """Status, time, layers, sensors table and detail of the live COP."""

    def __init__(
        self,
        panel: PanelVM,
        palette: dict[str, tuple[float, float, float]] | None = None,
        title: str = TITLE,
        **kwargs: object,
    ) -> None:
        super().__init__(title, width=style.WINDOW_WIDTH, height=style.WINDOW_HEIGHT, **kwargs)
        self._panel = panel
        self._palette = palette or {}
        self._syncing_tree = False
        self._filter_model = ui.SimpleStringModel(panel.sensors.filter_text)
        self._filter_model.add_value_changed_fn(self._on_filter)
        self._as_of_model = ui.SimpleStringModel(panel.time.text)
        self._table_model = SensorsItemModel(panel.sensors)
        self._table_delegate = SensorsDelegate(panel.sensors, self._on_sort)
        self._tree: ui.TreeView | None = None
        self._status_label: ui.Label | None = None
        self._details_label: ui.Label | None = None
        self._time_error: ui.Label | None = None
        self._count_label: ui.Label | None = None
        self._banner: ui.ZStack | None = None
        self._banner_label: ui.Label | None = None
        self._layers_frame: ui.Frame | None = None
        self._detail_frame: ui.Frame | None = None
        self._note_model = ui.SimpleStringModel("")
        self._point_model = ui.SimpleStringModel(panel.notes_view.point)
        self._painted_point = panel.notes_view.point
        self._author_model = ui.SimpleStringModel(panel.notes_view.author or panel.author)
        self._author_model.add_value_changed_fn(self._on_author)
        self._notes_filter_frame: ui.Frame | None = None
        self._notes_list_frame: ui.Frame | None = None
        self._notes_controls: ui.VStack | None = None
        self._note_target_label: ui.Label | None = None
        self._note_error: ui.Label | None = None
        self._add_button: ui.Button | None = None
        self._badge_label: ui.Label | None = None
        self._alarms_summary: ui.Label | None = None
        self._alarms_list_frame: ui.Frame | None = None
        self._shelve_form: ui.VStack | None = None
        self._shelve_label: ui.Label | None = None
        self._alarms_error: ui.Label | None = None
        self._shelve_reason_model = ui.SimpleStringModel("")
        self._shelve_until_model = ui.SimpleStringModel("8h")
        #: Note writes and time-travel reads in flight (kept so they are not garbage-collected;
        #: cancelled on destroy).
        self.in_flight: set[asyncio.Future] = set()
        self.frame.style = style.window_style(self._palette)
        self.frame.set_build_fn(self._build)

    def destroy(self) -> None:
        for task in list(self.in_flight):
            task.cancel()  # the commit still finishes in its thread; only the repaint is dropped
        self.in_flight.clear()
        self._tree = None
        self._layers_frame = None
        self._detail_frame = None
        self._notes_filter_frame = None
        self._notes_list_frame = None
        self._notes_controls = None
        self._note_target_label = None
        self._note_error = None
        self._add_button = None
        self._badge_label = None
        self._alarms_summary = None
        self._alarms_list_frame = None
        self._shelve_form = None
        self._shelve_label = None
        self._alarms_error = None
        super().destroy()

    # ------------------------------------------------------------------ build
    def _build(self) -> None:
        with ui.ScrollingFrame(), ui.VStack(spacing=style.SPACING, height=0):
            self._build_banner()
            self._build_status()
            self._build_time()
            with ui.CollapsableFrame("Alarms", name="group", height=0):
                self._build_alarms()
            with ui.CollapsableFrame("Layers", name="group", height=0):
                self._layers_frame = ui.Frame(height=0)
                self._layers_frame.set_build_fn(self._build_layers)
            with ui.CollapsableFrame("Sensors", name="group", height=0):
                self._build_sensors()
            with ui.CollapsableFrame("Selected sensor", name="group", height=0):
                self._detail_frame = ui.Frame(height=0)
                self._detail_frame.set_build_fn(self._build_detail)
            with ui.CollapsableFrame("Notes", name="group", height=0):
                self._build_notes()
        self._paint_status()
        self._paint_notes()
        self._paint_alarms()

    def _build_banner(self) -> None:
        self._banner = ui.ZStack(height=0, visible=False)
        with self._banner:
            ui.Rectangle(name="banner")
            self._banner_label = ui.Label("", name="banner", word_wrap=True, height=0)

    def _build_status(self) -> None:
        with ui.VStack(height=0, spacing=2):
            self._status_label = ui.Label("", name="level_warn", word_wrap=True, height=0)
            self._badge_label = ui.Label(
                "", name="badge_info", height=0, identifier="coptwin_alarm_badge"
            )
            self._details_label = ui.Label("", name="dim", word_wrap=True, height=0)

    def _build_time(self) -> None:
        with ui.VStack(height=0, spacing=2):
            with ui.HStack(height=style.ROW_HEIGHT, spacing=style.SPACING):
                ui.Label("As of", width=style.LABEL_WIDTH // 2)
                ui.StringField(
                    model=self._as_of_model,
                    identifier="coptwin_as_of",
                    tooltip="A table version (12) or a UTC time (2024-05-01 13:30)",
                )
                ui.Button("Show", width=60, clicked_fn=self._on_as_of)
                ui.Button("Live", width=60, clicked_fn=self._on_live)
            self._time_error = ui.Label("", name="error", word_wrap=True, height=0)

    def _build_alarms(self) -> None:
        with ui.VStack(height=0, spacing=style.SPACING):
            self._alarms_summary = ui.Label("", name="dim", word_wrap=True, height=0)
            with ui.ScrollingFrame(height=style.ALARMS_LIST_HEIGHT):
                self._alarms_list_frame = ui.Frame(height=0)
                self._alarms_list_frame.set_build_fn(self._build_alarms_list)
            self._shelve_form = ui.VStack(height=0, spacing=2, visible=False)
            with self._shelve_form:
                self._shelve_label = ui.Label("", word_wrap=True, height=0)
                with ui.HStack(height=style.ROW_HEIGHT, spacing=style.SPACING):
                    _field(
                        "Reason",
                        self._shelve_reason_model,
                        "coptwin_shelve_reason",
                        "Why (required), e.g. 'known bad until the sensor is swapped'",
                    )
                with ui.HStack(height=style.ROW_HEIGHT, spacing=style.SPACING):
                    _field(
                        "Until",
                        self._shelve_until_model,
                        "coptwin_shelve_until",
                        "A duration (8h, 30m, 1h30m, 2d) or a UTC time (2026-11-28 06:00)",
                    )
                    ui.Button(
                        "Shelve",
                        width=style.ALARM_BUTTON_WIDTH,
                        identifier="coptwin_shelve_ok",
                        clicked_fn=self._on_shelve,
                    )
                    ui.Button(
                        "Cancel",
                        width=style.ALARM_BUTTON_WIDTH,
                        clicked_fn=lambda: self.update(self._panel.cancel_shelve()),
                    )
            self._alarms_error = ui.Label("", name="error", word_wrap=True, height=0)

    def _build_alarms_list(self) -> None:
        view = self._panel.alarms_view
        with ui.VStack(height=0, spacing=style.SPACING):
            if _off(view, "Alarms"):
                return
            if not view.items:
                ui.Label("No open alarms.", name="dim", height=0)
            for item in view.items:
                self._build_alarm_row(item, busy=view.busy)

    def _build_alarm_row(self, item: AlarmItem, busy: bool) -> None:
        alarm_id = item.alarm_id
        with ui.ZStack(height=0):
            if item.unacknowledged:
                ui.Rectangle(name="alarm_unack")
            with ui.VStack(height=0, spacing=1):
                with ui.HStack(height=0, spacing=style.SPACING):
                    ui.Label(item.label, name="alarm_unack" if item.unacknowledged else "", width=0)
                    ui.Label(item.sensor, name=f"status_{item.status}", width=0)
                    ui.Label(item.raised, name="dim", elided_text=True)
                ui.Label(item.reason, word_wrap=True, height=0)
                if item.detail:
                    ui.Label(item.detail, name="dim", word_wrap=True, height=0)
                panel = self._panel
                actions = (
                    ("Ack", item.can_ack, lambda: self._spawn(panel.ack_alarm(alarm_id))),
                    ("Shelve…", item.can_shelve, lambda: self.update(panel.open_shelve(alarm_id))),
                    (
                        "Unshelve",
                        item.can_unshelve,
                        lambda: self._spawn(panel.unshelve_alarm(alarm_id)),
                    ),
                )
                with ui.HStack(height=style.ROW_HEIGHT, spacing=style.SPACING):
                    _buttons(actions, style.ALARM_BUTTON_WIDTH, busy)
                    ui.Button(
                        "Show",
                        width=style.ALARM_BUTTON_WIDTH,
                        tooltip="Select and frame the sensor",
                        clicked_fn=lambda: self.update(self._panel.select_alarm(alarm_id)),
                    )
                    ui.Spacer()

    def _build_layers(self) -> None:
        with ui.VStack(height=0, spacing=2):
            for item in self._panel.layers.items:
                with ui.HStack(height=style.ROW_HEIGHT, spacing=style.SPACING):
                    model = ui.SimpleBoolModel(item.visible)
                    model.add_value_changed_fn(
                        lambda m, name=item.name: self._on_layer(name, m.get_value_as_bool())
                    )
                    ui.CheckBox(model=model, width=20)
                    ui.Label(item.label, width=style.LABEL_WIDTH)
                    ui.Label(item.counts_text, name="dim")
            notes = self._panel.layers.notes
            if notes is not None:
                with ui.HStack(height=style.ROW_HEIGHT, spacing=style.SPACING):
                    model = ui.SimpleBoolModel(notes.visible)
                    model.add_value_changed_fn(
                        lambda m: self._on_notes_layer(m.get_value_as_bool())
                    )
                    ui.CheckBox(model=model, width=20, identifier="coptwin_notes_layer")
                    ui.Label(notes.label, width=style.LABEL_WIDTH)
                    ui.Label(notes.counts_text, name="dim")
            if self._panel.layers.error:
                ui.Label(self._panel.layers.error, name="error", word_wrap=True, height=0)
            with ui.HStack(height=style.ROW_HEIGHT, spacing=style.SPACING):
                for entry in legend(self._palette):
                    ui.Rectangle(
                        name=f"swatch_{entry.status}",
                        width=style.LEGEND_SWATCH,
                        height=style.LEGEND_SWATCH,
                    )
                    ui.Label(entry.label, width=0)
                    ui.Spacer(width=style.SPACING * 2)

    def _build_sensors(self) -> None:
        with ui.VStack(height=0, spacing=style.SPACING):
            with ui.HStack(height=style.ROW_HEIGHT, spacing=style.SPACING):
                ui.Label("Filter", width=style.LABEL_WIDTH // 2)
                ui.StringField(
                    model=self._filter_model,
                    identifier="coptwin_sensor_filter",
                    tooltip="Words match name, id, kind, layer, status; "
                    "or key:value with key in name, id, kind, layer, status, unit, quantity",
                )
            self._count_label = ui.Label("", name="dim", height=0)
            with ui.ScrollingFrame(height=260):
                self._tree = ui.TreeView(
                    self._table_model,
                    delegate=self._table_delegate,
                    root_visible=False,
                    header_visible=True,
                    columns_resizable=True,
                    column_widths=[ui.Fraction(w) for w in style.COLUMN_WIDTHS],
                    selection_changed_fn=self._on_tree_selection,
                )
        self._paint_count()
        self._sync_tree_selection()

    def _build_detail(self) -> None:
        detail = self._panel.detail.detail
        with ui.VStack(height=0, spacing=2):
            if detail is None:
                ui.Label("Select a sensor in the table or the viewport.", name="dim")
                return
            ui.Label(detail.title, name="section", height=0)
            for key, value in detail.fields:
                with ui.HStack(height=0):
                    ui.Label(key, name="dim", width=style.LABEL_WIDTH)
                    ui.Label(value, elided_text=True)
            if detail.plot is not None:
                ui.Plot(
                    ui.Type.LINE,
                    detail.plot.y_min,
                    detail.plot.y_max,
                    *detail.plot.values,
                    height=style.PLOT_HEIGHT,
                )
                ui.Label(detail.plot.caption, name="dim", word_wrap=True, height=0)
            else:
                ui.Label("No recent values to plot.", name="dim")
            if detail.building_path:
                ui.Label(f"Building {detail.building_path}", name="section", height=0)
                for key, value in detail.building:
                    with ui.HStack(height=0):
                        ui.Label(key, name="dim", width=style.LABEL_WIDTH * 2, elided_text=True)
                        ui.Label(value, elided_text=True)

    def _build_notes(self) -> None:
        with ui.VStack(height=0, spacing=style.SPACING):
            self._notes_filter_frame = ui.Frame(height=0)
            self._notes_filter_frame.set_build_fn(self._build_notes_filter)
            with ui.ScrollingFrame(height=style.NOTES_LIST_HEIGHT):
                self._notes_list_frame = ui.Frame(height=0)
                self._notes_list_frame.set_build_fn(self._build_notes_list)
            self._notes_controls = ui.VStack(height=0, spacing=2)
            with self._notes_controls:
                self._note_target_label = ui.Label("", name="dim", word_wrap=True, height=0)
                ui.StringField(
                    model=self._note_model,
                    multiline=True,
                    height=style.NOTE_FIELD_HEIGHT,
                    identifier="coptwin_note_text",
                    tooltip="Plain text. Add attaches it to the selection or the point; "
                    "Reply answers the thread whose Reply button you press.",
                )
                with ui.HStack(height=style.ROW_HEIGHT, spacing=style.SPACING):
                    self._add_button = ui.Button(
                        "Add",
                        width=style.NOTE_BUTTON_WIDTH,
                        clicked_fn=self._on_add_note,
                        identifier="coptwin_note_add",
                    )
                    ui.Label("Point", width=0, name="dim")
                    ui.StringField(
                        model=self._point_model,
                        identifier="coptwin_note_point",
                        tooltip="x, y, z in stage coordinates (e.g. a position read in the "
                        "viewport); Use attaches the next note there instead of the selection",
                    )
                    ui.Button("Use", width=40, clicked_fn=self._on_use_point)
                    ui.Button("Clear", width=44, clicked_fn=self._on_clear_point)
                with ui.HStack(height=style.ROW_HEIGHT, spacing=style.SPACING):
                    _field(
                        "Author",
                        self._author_model,
                        "coptwin_note_author",
                        "Signs the notes you write (setting /exts/coptwin/author)",
                    )
            self._note_error = ui.Label("", name="error", word_wrap=True, height=0)

    def _build_notes_filter(self) -> None:
        view = self._panel.notes_view
        if not view.enabled:
            return
        with ui.HStack(height=style.ROW_HEIGHT, spacing=style.SPACING):
            _toggles(
                (("selection", "Selection"), ("all", "All notes")),
                view.scope,
                lambda s: self.update(self._panel.set_notes_scope(s)),
            )
            ui.Spacer(width=style.SPACING * 3)
            _toggles(
                (
                    (status, f"{label} ({view.counts.get(status, 0)})")
                    for status, label in _NOTE_STATUSES
                ),
                view.status_filter,
                lambda s: self.update(self._panel.set_notes_filter(s)),
            )

    def _build_notes_list(self) -> None:
        view = self._panel.notes_view
        with ui.VStack(height=0, spacing=style.SPACING):
            if _off(view, "Notes"):
                return
            if not view.rows:
                empty = (
                    "No notes on the selection for this filter."
                    if view.scope == "selection"
                    else "No notes for this filter."
                )
                ui.Label(empty, name="dim", word_wrap=True, height=0)
            for row in view.rows:
                self._build_note_row(row, focused=row.thread_id == view.focused, busy=view.busy)

    def _build_note_row(self, row: NoteRow, focused: bool, busy: bool) -> None:
        with ui.HStack(height=0):
            ui.Spacer(width=style.NOTE_INDENT * row.depth)
            with ui.ZStack(height=0):
                if focused and row.depth == 0:
                    ui.Rectangle(name="note_focused")
                with ui.VStack(height=0, spacing=1):
                    with ui.HStack(height=0, spacing=style.SPACING):
                        if row.depth == 0:
                            ui.Label(row.status, name=f"note_{row.status}", width=0)
                        ui.Label(row.author, width=0)
                        ui.Label(row.when, name="dim", width=0)
                        if row.depth == 0:
                            ui.Label(row.target_label, name="dim", elided_text=True)
                        if row.edited:
                            ui.Label("(edited)", name="dim", width=0)
                    # Plain text: omni.ui labels draw the string as it is.
                    ui.Label(row.text, name="note_text", word_wrap=True, height=0)
                    if row.depth == 0:
                        self._build_note_buttons(row, busy)

    def _build_note_buttons(self, row: NoteRow, busy: bool) -> None:
        note_id = row.annotation_id
        actions: tuple[Action, ...] = (
            ("Reply", True, lambda: self._on_reply(note_id)),
            ("Resolve", row.can_resolve, lambda: self._spawn(self._panel.resolve_note(note_id))),
            ("Reopen", row.can_reopen, lambda: self._spawn(self._panel.reopen_note(note_id))),
        )
        with ui.HStack(height=style.ROW_HEIGHT, spacing=style.SPACING):
            _buttons(actions, style.NOTE_BUTTON_WIDTH, busy)
            ui.Spacer()

    # ------------------------------------------------------------------ repaint
    def update(self, changes: PanelChanges) -> None:
        """Repaint the parts ``changes`` names (called after every refresh and action)."""
        if changes.status:
            self._paint_status()
        if changes.layers and self._layers_frame is not None:
            self._layers_frame.rebuild()
        if changes.sensors:
            self._table_model.apply(self._panel.sensors.view)
            self._paint_count()
        if changes.sensors or changes.selection:
            self._sync_tree_selection()
        if changes.detail and self._detail_frame is not None:
            self._detail_frame.rebuild()
        if changes.notes:
            self._paint_notes()
        if changes.alarms:
            self._paint_alarms()

    def _paint_alarms(self) -> None:
        view = self._panel.alarms_view
        if self._alarms_list_frame is not None:
            self._alarms_list_frame.rebuild()
        if self._alarms_summary is not None:
            past = "" if view.live else " (as of the time shown; return to Live to act)"
            self._alarms_summary.text = (view.summary + past) if view.enabled else ""
        if self._shelve_form is not None:
            self._shelve_form.visible = view.shelving is not None
        if self._shelve_label is not None:
            self._shelve_label.text = view.shelving_label
        if self._alarms_error is not None:
            self._alarms_error.text = view.error

    def _paint_notes(self) -> None:
        view = self._panel.notes_view
        if self._notes_filter_frame is not None:
            self._notes_filter_frame.rebuild()
        if self._notes_list_frame is not None:
            self._notes_list_frame.rebuild()
        if self._notes_controls is not None:
            self._notes_controls.visible = view.enabled
        if self._note_target_label is not None:
            busy = " (saving…)" if view.busy else ""
            self._note_target_label.text = view.add_label + busy
        if self._add_button is not None:
            self._add_button.enabled = view.can_add
        if self._note_error is not None:
            self._note_error.text = view.error
        if view.point != self._painted_point:  # used or set: show it; a half-typed point stays
            self._painted_point = view.point
            self._point_model.set_value(view.point)

    def _paint_status(self) -> None:
        status = self._panel.status
        if self._status_label is not None:
            self._status_label.text = status.text
            self._status_label.name = f"level_{status.level}"
        if self._details_label is not None:
            self._details_label.text = status.details
        if self._badge_label is not None:
            self._badge_label.text = status.badge
            self._badge_label.name = f"badge_{status.badge_level}"
            self._badge_label.visible = bool(status.badge)
        if self._banner is not None and self._banner_label is not None:
            self._banner_label.text = status.banner
            self._banner.visible = bool(status.banner)
        if self._time_error is not None:
            self._time_error.text = self._panel.time.error

    def _paint_count(self) -> None:
        if self._count_label is not None:
            shown, total = len(self._panel.sensors.items), self._panel.sensors.total
            self._count_label.text = f"{shown} of {total} sensors"

    def _sync_tree_selection(self) -> None:
        if self._tree is None:
            return
        item = self._table_model.find(self._panel.selection.selected)
        self._syncing_tree = True
        try:
            self._tree.selection = [item] if item is not None else []
        finally:
            self._syncing_tree = False

    # ------------------------------------------------------------------ input
    def _on_filter(self, model: ui.AbstractValueModel) -> None:
        self.update(self._panel.set_filter(model.get_value_as_string()))

    def _on_sort(self, column: str) -> None:
        self.update(self._panel.sort_by(column))
        if self._tree is not None:
            self._tree.dirty_widgets()

    def _on_layer(self, name: str, visible: bool) -> None:
        self._spawn(self._panel.toggle_layer(name, visible))

    def _on_as_of(self) -> None:
        self._spawn(self._panel.apply_as_of(self._as_of_model.get_value_as_string()))

    def _on_live(self) -> None:
        self._as_of_model.set_value("")
        self._spawn(self._panel.go_live())

    def _on_notes_layer(self, visible: bool) -> None:
        self.update(self._panel.toggle_notes_layer(visible))

    def _on_author(self, model: ui.AbstractValueModel) -> None:
        self.update(self._panel.set_note_author(model.get_value_as_string()))

    def _on_use_point(self) -> None:
        self.update(self._panel.set_note_point(self._point_model.get_value_as_string()))

    def _on_clear_point(self) -> None:
        self._point_model.set_value("")
        self.update(self._panel.set_note_point(""))

    def _on_add_note(self) -> None:
        self._spawn(self._panel.add_note(self._note_model.get_value_as_string()), clear=True)

    def _on_reply(self, annotation_id: str) -> None:
        text = self._note_model.get_value_as_string()
        self._spawn(self._panel.reply_note(annotation_id, text), clear=True)

    def _spawn(self, action: Awaitable[PanelChanges], clear: bool = False) -> asyncio.Future:
        """Run a panel coroutine on Kit's loop; repaint (and clear the note text) when done."""

        async def run() -> None:
            changes = await action
            if clear and not self._panel.notes_view.error:
                self._note_model.set_value("")
            self.update(changes)

        task = asyncio.ensure_future(run())
        self.in_flight.add(task)
        task.add_done_callback(self._write_done)
        return task

    def _write_done(self, task: asyncio.Future) -> None:
        self.in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("coptwin: a panel action failed", exc_info=task.exception())

    def _on_shelve(self) -> None:
        reason = self._shelve_reason_model.get_value_as_string()
        until = self._shelve_until_model.get_value_as_string()

        async def shelve() -> PanelChanges:
            changes = await self._panel.shelve_alarm(reason, until)
            if not self._panel.alarms_view.error:
                self._shelve_reason_model.set_value("")
            return changes

        self._spawn(shelve())

    def _on_tree_selection(self, items: list) -> None:
        if self._syncing_tree:
            return
        sensor_id = items[-1].sensor_id if items else None
        self.update(self._panel.select_row(sensor_id))
