"""The omni.ui window painting a PanelVM, run against the omni.ui STAND-IN.

The panel is fed real EngineSnapshot objects by ``SnapshotReplay`` — a replay
of engine state that applies layer toggles and as-of requests to the
snapshot, not an engine.  These tests catch broken widget names and keyword
arguments and check that user input reaches the view-models and back.
"""

from __future__ import annotations

import asyncio
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


# ----------------------------------------------------------------------------- notes


def buttons(window, text: str) -> list:
    return [b for b in widgets(window, "Button") if b.text == text]


def by_id(window, identifier: str):
    (widget,) = [w for w in window.frame.walk() if w.kwargs.get("identifier") == identifier]
    return widget


def test_notes_section_says_why_it_is_off(painted):
    window, panel, *_ = painted
    assert "Notes are off: this engine keeps no notes." in label_texts(window)
    assert by_id(window, "coptwin_note_text").model.get_value_as_string() == ""
    controls = [
        w for w in widgets(window, "VStack") if by_id(window, "coptwin_note_add") in w.walk()
    ]
    assert controls and controls[-1].visible is False
    assert [
        w for w in window.frame.walk() if w.kwargs.get("identifier") == "coptwin_notes_layer"
    ] == []


async def _running_panel(cop_tables, city_stage, author="ann"):
    from coptwin.ui.panel import PanelVM
    from coptwin.ui.session import EngineSession

    session = EngineSession()
    assert session.start(cop_tables, city_stage), session.error
    panel = PanelVM(author=author)
    panel.bind(session.engine)
    for _ in range(300):
        panel.refresh()
        if panel.sensors.total == 3 and panel.status.state == "Connected":
            return session, panel
        await asyncio.sleep(0.02)
    raise AssertionError(panel.status.text)


async def _until(window, panel, ready, what: str) -> None:
    """What Kit's refresh timer does: refresh the panel and repaint, until ``ready()``."""
    for _ in range(300):
        window.update(panel.refresh())
        if ready():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}: {panel.notes_view}")


async def _click(window, text: str, index: int = 0) -> None:
    buttons(window, text)[index].click()
    await asyncio.gather(*window.note_writes)


def test_notes_buttons_reach_the_view_model_and_the_engine(kit, cop_tables, city_stage):
    kit.import_kit()
    from pxr import UsdGeom

    from coptwin.kit.window import CoptwinWindow
    from coptwin.scene import pins

    async def scenario():
        session, panel = await _running_panel(cop_tables, city_stage)
        window = CoptwinWindow(panel, PALETTE)
        engine = session.engine
        try:
            texts = label_texts(window)
            assert "Annotations" in texts and "no notes" in texts
            assert "Select a sensor or building, or click a point, to add a note" in texts
            assert by_id(window, "coptwin_note_add").enabled is False
            assert by_id(window, "coptwin_note_author").model.get_value_as_string() == "ann"
            # Select the Harbour row: the notes follow it.
            (tree,) = widgets(window, "TreeView")
            tree.user_select([tree.model.find("t2")])
            assert "Add a note to sensor Harbour" in label_texts(window)
            assert by_id(window, "coptwin_note_add").enabled is True
            # Empty text: an error, nothing written.
            await _click(window, "Add")
            assert any(t.startswith("empty text") for t in label_texts(window))
            # Markup-looking text is kept and shown as it is.
            raw = "reads <b>high</b> & {since} the roof work"
            by_id(window, "coptwin_note_text").model.set_value(raw)
            await _click(window, "Add")
            assert by_id(window, "coptwin_note_text").model.get_value_as_string() == ""
            await _until(window, panel, lambda: raw in label_texts(window), "the note's row")
            texts = label_texts(window)
            assert {"open", "ann", "sensor Harbour"} <= set(texts)
            assert "Open (1)" in [b.text for b in widgets(window, "Button")]
            (note,) = panel.notes_view.rows
            prim = city_stage.GetPrimAtPath(str(pins.pin_path(engine.overlay, note.annotation_id)))
            assert prim.GetAttribute(pins.ATTR_TEXT).Get() == raw
            # Reply uses the text field.
            by_id(window, "coptwin_note_text").model.set_value("it was the sun")
            await _click(window, "Reply")
            await _until(window, panel, lambda: "it was the sun" in label_texts(window), "reply")
            # Resolve: the "open" filter hides it; "Resolved" shows it with Reopen.
            await _click(window, "Resolve")
            await _until(window, panel, lambda: panel.notes_view.rows == (), "the filter")
            assert "No notes on the selection for this filter." in label_texts(window)
            buttons(window, "Resolved (1)")[0].click()
            assert raw in label_texts(window) and buttons(window, "Reopen")
            await _click(window, "Reopen")
            await _until(window, panel, lambda: panel.notes_view.rows == (), "the reopen")
            assert buttons(window, "Open (1)")
            # The Annotations layer checkbox hides every pin.
            scope = city_stage.GetPrimAtPath(str(pins.scope_path(engine.overlay)))
            by_id(window, "coptwin_notes_layer").model.set_value(False)
            assert UsdGeom.Imageable(scope).ComputeVisibility() == UsdGeom.Tokens.invisible
            by_id(window, "coptwin_notes_layer").model.set_value(True)
            assert UsdGeom.Imageable(scope).ComputeVisibility() == UsdGeom.Tokens.inherited
            # A typed point becomes the target; a bad one is an error.
            by_id(window, "coptwin_note_point").model.set_value("1, 2")
            buttons(window, "Use")[0].click()
            assert any("is not a point" in t for t in label_texts(window))
            by_id(window, "coptwin_note_point").model.set_value("3, 4, 5")
            buttons(window, "Use")[0].click()
            assert "Add a note to point (3.0, 4.0, 5.0)" in label_texts(window)
            buttons(window, "Clear")[0].click()
            assert "Add a note to sensor Harbour" in label_texts(window)
            # The author field signs the next note.
            by_id(window, "coptwin_note_author").model.set_value("")
            by_id(window, "coptwin_note_text").model.set_value("who am I")
            await _click(window, "Add")
            assert any(t.startswith("missing author") for t in label_texts(window))
        finally:
            window.destroy()
            session.stop()

    asyncio.run(scenario())
