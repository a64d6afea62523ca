"""The omni.ui window painting a PanelVM, run against the omni.ui STAND-IN.

The panel is fed real EngineSnapshot objects by ``SnapshotReplay`` — a replay
of engine state that applies layer toggles and as-of requests to the
snapshot, not an engine.  These tests catch broken widget names and keyword
arguments and check that user input reaches the view-models and back.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from coptwin.engine.snapshot import EngineSnapshot, EngineStatus, LayerRow, SensorRow

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
PALETTE = {"alarm": (0.84, 0.37, 0.0), "warn": (0.9, 0.62, 0.0), "ok": (0.0, 0.62, 0.45)}


def row(sid, name, layer, status, value, unit="°C", bound=""):
    return SensorRow(
        sensor_id=sid,
        name=name,
        kind="temperature" if layer == "environment" else "motion",
        layer=layer,
        status=status,
        value=value,
        unit=unit,
        ts=NOW - timedelta(seconds=30),
        marker_path=f"/COP/Markers/{sid}",
        bound_prim=bound,
    )


class SnapshotReplay:
    """Replays engine state for the panel (not an engine): toggles edit the snapshot."""

    def __init__(self) -> None:
        sensors = (
            row("t1", "Tower roof", "environment", "ok", 21.5),
            row("t2", "Harbour", "environment", "alarm", 41.0),
            row("m1", "Gate", "security", "warn", 1.0, unit="", bound="/World/B7"),
        )
        self.snap = EngineSnapshot(
            status=EngineStatus(connection="connected", last_update=NOW, versions={"readings": 4}),
            layers=(
                LayerRow("environment", "Environment", True, {"ok": 1, "alarm": 1}),
                LayerRow("security", "Security", True, {"warn": 1}),
            ),
            sensors=sensors,
            now=NOW,
        )

    def snapshot(self) -> EngineSnapshot:
        return self.snap

    def set_layer_visible(self, layer: str, visible: bool) -> None:
        layers = tuple(
            dataclasses.replace(lr, visible=visible) if lr.name == layer else lr
            for lr in self.snap.layers
        )
        self.snap = dataclasses.replace(self.snap, layers=layers)

    def set_as_of(self, when) -> None:
        status = dataclasses.replace(self.snap.status, as_of=when)
        self.snap = dataclasses.replace(self.snap, status=status)

    def history(self, sensor_id: str):
        return [(NOW - timedelta(seconds=60 - i * 10), 20.0 + i) for i in range(6)]


def widgets(window, kind: str):
    return [w for w in window.frame.walk() if type(w).__name__ == kind]


def label_texts(window) -> list[str]:
    return [w.text for w in widgets(window, "Label")]


@pytest.fixture
def painted(kit):
    kit.import_kit()
    from coptwin.kit.window import CoptwinWindow
    from coptwin.ui.panel import PanelVM

    selected: list[list[str]] = []
    frames: list[int] = []
    panel = PanelVM(select_prims=selected.append, frame_selection=lambda: frames.append(1))
    replay = SnapshotReplay()
    panel.bind(replay, lambda path: [("CityEngine:Rule:User:OBJECTID", "7")])
    panel.refresh(NOW)
    window = CoptwinWindow(panel, PALETTE)
    yield window, panel, replay, selected, frames
    window.destroy()


def tree_rows(window) -> list[str]:
    (tree,) = widgets(window, "TreeView")
    names = [cell.text for cell in tree.cells if type(cell).__name__ == "Label"]
    return names[0::5]  # first column of each row


def test_window_paints_status_layers_legend_and_table(painted):
    window, panel, *_ = painted
    texts = label_texts(window)
    assert "Connected · last update just now" in texts
    assert "events: none · versions: readings v4" in texts
    assert {"Environment", "Security", "1 alarm · 1 ok", "1 warn"} <= set(texts)
    swatches = [w.name for w in widgets(window, "Rectangle") if w.name.startswith("swatch_")]
    assert swatches == ["swatch_alarm", "swatch_warn", "swatch_ok"]
    assert tree_rows(window) == ["Harbour", "Gate", "Tower roof"]
    (tree,) = widgets(window, "TreeView")
    headers = [c.text for c in tree.cells if type(c).__name__ == "Button"]
    assert headers == ["Name", "Kind", "Value", "Status ▲", "Age"]
    assert "3 of 3 sensors" in texts
    banner = [w for w in widgets(window, "ZStack")][0]
    assert banner.visible is False
    assert window.frame.style["Label::status_alarm"]["color"] == 0xFF005ED6


def test_header_click_sorts_and_filter_filters(painted):
    window, panel, *_ = painted
    (tree,) = widgets(window, "TreeView")
    value_header = next(c for c in tree.cells if getattr(c, "text", "") == "Value")
    value_header.click()
    assert tree_rows(window) == ["Gate", "Tower roof", "Harbour"]
    (tree,) = widgets(window, "TreeView")
    assert [c.text for c in tree.cells if type(c).__name__ == "Button"][2] == "Value ▲"
    filter_field = widgets(window, "StringField")[1]
    filter_field.model.set_value("status:alarm")
    assert tree_rows(window) == ["Harbour"]
    assert "1 of 3 sensors" in label_texts(window)


def test_layer_checkbox_reaches_the_engine_and_the_table(painted):
    window, panel, replay, *_ = painted
    security = widgets(window, "CheckBox")[1]
    security.model.set_value(False)
    assert [lr.visible for lr in replay.snap.layers] == [True, False]
    assert tree_rows(window) == ["Harbour", "Tower roof"]
    widgets(window, "CheckBox")[1].model.set_value(True)  # the rebuilt row's checkbox
    assert tree_rows(window) == ["Harbour", "Gate", "Tower roof"]


def test_row_selection_selects_frames_and_shows_detail(painted):
    window, panel, replay, selected, frames = painted
    (tree,) = widgets(window, "TreeView")
    gate = tree.model.find("m1")
    tree.user_select([gate])
    assert selected == [["/COP/Markers/m1"]] and frames == [1]
    texts = label_texts(window)
    assert "Gate (warn)" in texts and "Building /World/B7" in texts
    assert "CityEngine:Rule:User:OBJECTID" in texts
    (plot,) = widgets(window, "Plot")
    assert plot.values == [20.0, 21.0, 22.0, 23.0, 24.0, 25.0]


def test_viewport_pick_selects_the_row_without_echo(painted):
    window, panel, replay, selected, frames = painted
    window.update(panel.on_stage_selection(["/World/B7/Mesh"]))
    (tree,) = widgets(window, "TreeView")
    assert [item.sensor_id for item in tree.selection] == ["m1"]
    assert selected == [] and frames == []  # the stage already has its selection
    assert "Gate (warn)" in label_texts(window)


def test_as_of_shows_a_banner_and_live_clears_it(painted):
    window, panel, replay, *_ = painted
    as_of_field = widgets(window, "StringField")[0]
    as_of_field.model.set_value("v2")
    next(b for b in widgets(window, "Button") if b.text == "Show").click()
    banner = widgets(window, "ZStack")[0]
    assert banner.visible is True
    banner_text = "NOT LIVE — showing the COP as of version 2."
    assert any(t.startswith(banner_text) for t in label_texts(window))
    as_of_field.model.set_value("someday")
    next(b for b in widgets(window, "Button") if b.text == "Show").click()
    assert any("neither a table version" in t for t in label_texts(window))
    next(b for b in widgets(window, "Button") if b.text == "Live").click()
    assert banner.visible is False and replay.snap.status.as_of is None
    assert as_of_field.model.get_value_as_string() == ""
