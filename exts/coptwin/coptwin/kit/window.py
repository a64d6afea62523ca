"""The coptwin panel: an omni.ui window painting a :class:`~coptwin.ui.panel.PanelVM`.

All decisions (texts, order, filtering, selection) are made by the Kit-free
view-models; this class lays widgets out and forwards user input.  Parts are
repainted only when the view-model says they changed.
"""

from __future__ import annotations

import logging

import omni.ui as ui

from ..ui.layers import legend
from ..ui.panel import PanelChanges, PanelVM
from . import style
from .sensors_table import SensorsDelegate, SensorsItemModel

log = logging.getLogger(__name__)

TITLE = "coptwin COP"


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
        self.frame.style = style.window_style(self._palette)
        self.frame.set_build_fn(self._build)

    def destroy(self) -> None:
        self._tree = None
        self._layers_frame = None
        self._detail_frame = None
        super().destroy()

    # ------------------------------------------------------------------ build
    def _build(self) -> None:
        with ui.ScrollingFrame(), ui.VStack(spacing=style.SPACING, height=0):
            self._build_banner()
            self._build_status()
            self._build_time()
            with ui.CollapsableFrame("Layers", name="group", height=0):
                self._layers_frame = ui.Frame(height=0)
                self._layers_frame.set_build_fn(self._build_layers)
            with ui.CollapsableFrame("Sensors", name="group", height=0):
                self._build_sensors()
            with ui.CollapsableFrame("Selected sensor", name="group", height=0):
                self._detail_frame = ui.Frame(height=0)
                self._detail_frame.set_build_fn(self._build_detail)
        self._paint_status()

    def _build_banner(self) -> None:
        self._banner = ui.ZStack(height=0, visible=False)
        with self._banner:
            ui.Rectangle(name="banner")
            self._banner_label = ui.Label("", name="banner", word_wrap=True, height=0)

    def _build_status(self) -> None:
        with ui.VStack(height=0, spacing=2):
            self._status_label = ui.Label("", name="level_warn", word_wrap=True, height=0)
            self._details_label = ui.Label("", name="dim", word_wrap=True, height=0)

    def _build_time(self) -> None:
        with ui.VStack(height=0, spacing=2):
            with ui.HStack(height=style.ROW_HEIGHT, spacing=style.SPACING):
                ui.Label("As of", width=style.LABEL_WIDTH // 2)
                ui.StringField(
                    model=self._as_of_model,
                    tooltip="A table version (12) or a UTC time (2024-05-01 13:30)",
                )
                ui.Button("Show", width=60, clicked_fn=self._on_as_of)
                ui.Button("Live", width=60, clicked_fn=self._on_live)
            self._time_error = ui.Label("", name="error", word_wrap=True, height=0)

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

    # ------------------------------------------------------------------ repaint
    def update(self, changes: PanelChanges) -> None:
        """Repaint the parts ``changes`` names (called after every refresh and action)."""
        if changes.status:
            self._paint_status()
        if changes.layers and self._layers_frame is not None:
            self._layers_frame.rebuild()
        if changes.sensors:
            self._table_model.reload()
            self._paint_count()
        if changes.sensors or changes.selection:
            self._sync_tree_selection()
        if changes.detail and self._detail_frame is not None:
            self._detail_frame.rebuild()

    def _paint_status(self) -> None:
        status = self._panel.status
        if self._status_label is not None:
            self._status_label.text = status.text
            self._status_label.name = f"level_{status.level}"
        if self._details_label is not None:
            self._details_label.text = status.details
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
        self.update(self._panel.toggle_layer(name, visible))

    def _on_as_of(self) -> None:
        self.update(self._panel.apply_as_of(self._as_of_model.get_value_as_string()))

    def _on_live(self) -> None:
        self._as_of_model.set_value("")
        self.update(self._panel.go_live())

    def _on_tree_selection(self, items: list) -> None:
        if self._syncing_tree:
            return
        sensor_id = items[-1].sensor_id if items else None
        self.update(self._panel.select_row(sensor_id))
