"""omni.ui item model and delegate for the sortable sensors table.

The rows, their order and their texts come from
:class:`coptwin.ui.sensors.SensorsTableVM`; this module only adapts them to
``ui.TreeView``: header buttons sort, the status column is coloured by name.

A refresh where only some rows changed (a new reading, an age crossing a
step) updates those items in place and tells the TreeView about each
(``_item_changed(item)``), so only their rows are rebuilt; the whole list is
re-announced only when rows come, go or move.
"""

from __future__ import annotations

from collections.abc import Callable

import omni.ui as ui

from ..ui.sensors import COLUMNS, HEADERS, SensorItem, SensorsTableVM, TableView


class SensorTreeItem(ui.AbstractItem):
    """One row; keeps the view-model item for selection."""

    def __init__(self, item: SensorItem) -> None:
        super().__init__()
        self.item = item
        self.models = [ui.SimpleStringModel(item.cell(column)) for column in COLUMNS]

    @property
    def sensor_id(self) -> str:
        return self.item.sensor_id

    def set(self, item: SensorItem) -> None:
        """Show a newer state of the same sensor in place."""
        self.item = item
        for model, column in zip(self.models, COLUMNS, strict=True):
            model.set_value(item.cell(column))


class SensorsItemModel(ui.AbstractItemModel):
    """Flat list model over the view-model's shown rows."""

    def __init__(self, table: SensorsTableVM) -> None:
        super().__init__()
        self._table = table
        self._items: list[SensorTreeItem] = []
        self._by_id: dict[str, SensorTreeItem] = {}
        self.reload()

    def reload(self) -> None:
        """Re-read every row from the view-model and tell the TreeView (rows moved)."""
        self._items = [SensorTreeItem(item) for item in self._table.items]
        self._by_id = {i.sensor_id: i for i in self._items}
        self._item_changed(None)

    def apply(self, view: TableView) -> None:
        """Show ``view``: changed rows in place, or everything when rows came, went or moved."""
        if view.reordered or len(view.order) != len(self._items):
            self.reload()
            return
        by_id = {item.sensor_id: item for item in view.shown} if view.changed else {}
        for sensor_id in view.changed:
            tree_item = self._by_id.get(sensor_id)
            if tree_item is None:
                self.reload()
                return
            tree_item.set(by_id[sensor_id])
            self._item_changed(tree_item)

    def find(self, sensor_id: str | None) -> SensorTreeItem | None:
        return self._by_id.get(sensor_id) if sensor_id is not None else None

    def get_item_children(self, item: ui.AbstractItem | None = None) -> list[SensorTreeItem]:
        return [] if item is not None else self._items

    def get_item_value_model_count(self, item: ui.AbstractItem | None = None) -> int:
        return len(COLUMNS)

    def get_item_value_model(self, item: SensorTreeItem, column_id: int) -> ui.AbstractValueModel:
        return item.models[column_id]


class SensorsDelegate(ui.AbstractItemDelegate):
    """Header buttons that sort; cells as labels, status coloured."""

    def __init__(self, table: SensorsTableVM, on_sort: Callable[[str], None]) -> None:
        super().__init__()
        self._table = table
        self._on_sort = on_sort

    def build_branch(self, model, item, column_id, level, expanded):  # noqa: ANN001
        """A flat table has no branches."""

    def build_header(self, column_id: int) -> None:
        column = COLUMNS[column_id]
        arrow = ""
        if column == self._table.sort_column:
            arrow = " ▲" if self._table.ascending else " ▼"
        ui.Button(
            HEADERS[column] + arrow,
            name="header",
            height=0,
            clicked_fn=lambda c=column: self._on_sort(c),
        )

    def build_widget(self, model, item, column_id, level, expanded):  # noqa: ANN001
        if item is None:
            return
        column = COLUMNS[column_id]
        name = f"status_{item.item.row.status}" if column == "status" else ""
        ui.Label(
            item.item.cell(column),
            name=name,
            elided_text=True,
            tooltip=item.item.row.sensor_id,
        )
