"""The omni.ui window painting a PanelVM, run against the strict omni.ui STAND-IN.

The panel is fed real EngineSnapshot objects by ``SnapshotReplay`` — a replay
of engine state that applies layer toggles and as-of requests to the
snapshot, not an engine — or by a real engine over local Delta tables.  The
stand-in builds on the next frame, clicks at a widget's screen centre (clipped
by scrolling frames) and detaches the widgets of a rebuilt frame, as Kit does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from datetime import datetime, timedelta, timezone

import pytest

from coptwin.engine.snapshot import EngineSnapshot, EngineStatus, LayerRow, SensorRow

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
PALETTE = {"alarm": (0.84, 0.37, 0.0), "warn": (0.9, 0.62, 0.0), "ok": (0.0, 0.62, 0.45)}
TITLE = "coptwin COP"


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
        position=(1.0, 2.0, 3.0),
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

    async def set_as_of_async(self, when) -> None:
        await asyncio.sleep(0)
        status = dataclasses.replace(self.snap.status, as_of=when)
        self.snap = dataclasses.replace(self.snap, status=status)

    def history(self, sensor_id: str):
        return [(NOW - timedelta(seconds=60 - i * 10), 20.0 + i) for i in range(6)]


def widgets(window, kind: str):
    return [w for w in window.frame.walk() if type(w).__name__ == kind]


def label_texts(window) -> list[str]:
    return [w.text for w in widgets(window, "Label")]


def buttons(window, text: str) -> list:
    return [b for b in widgets(window, "Button") if b.text == text]


def by_id(window, identifier: str):
    (widget,) = [w for w in window.frame.walk() if w.kwargs.get("identifier") == identifier]
    return widget


def tree_rows(window) -> list[str]:
    (tree,) = widgets(window, "TreeView")
    names = [cell.text for cell in tree.cells if type(cell).__name__ == "Label"]
    return names[0::5]  # first column of each row


@pytest.fixture
def painted(kit):
    kit.import_kit()
    from coptwin.kit.window import CoptwinWindow
    from coptwin.ui.panel import PanelVM

    selected: list[list[str]] = []
    frames: list = []
    panel = PanelVM(select_prims=selected.append, frame_selection=frames.append)
    replay = SnapshotReplay()
    panel.bind(replay, lambda path: [("CityEngine:Rule:User:OBJECTID", "7")])
    panel.refresh(NOW)
    window = CoptwinWindow(panel, PALETTE)
    assert label_texts(window) == []  # nothing is built before Kit's next frame
    kit.frame()
    yield window, panel, replay, selected, frames
    window.destroy()


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


def test_header_click_sorts_and_filter_filters(painted, kit):
    window, *_ = painted
    ui = kit.kit_test("_ui")

    async def scenario():
        await ui.click(TITLE, "Button", text="Value")
        assert tree_rows(window) == ["Gate", "Tower roof", "Harbour"]
        (tree,) = widgets(window, "TreeView")
        assert [c.text for c in tree.cells if type(c).__name__ == "Button"][2] == "Value ▲"
        by_id(window, "coptwin_sensor_filter").model.set_value("status:alarm")
        await kit.frames()
        assert tree_rows(window) == ["Harbour"]
        assert "1 of 3 sensors" in label_texts(window)

    asyncio.run(scenario())


def test_layer_checkbox_reaches_the_engine_and_the_table(painted, kit):
    window, panel, replay, *_ = painted
    ui = kit.kit_test("_ui")
    stale = kit.standin.StaleWidgetError

    async def scenario():
        old = ui.find_nth(TITLE, "CheckBox", 1)
        await ui.click_nth(TITLE, "CheckBox", 1)
        assert [lr.visible for lr in replay.snap.layers] == [True, False]
        await asyncio.gather(*window.in_flight)  # the refresh runs in a worker
        await kit.frames()
        assert tree_rows(window) == ["Harbour", "Tower roof"]
        with pytest.raises(stale):  # the layers frame was rebuilt: re-query, as ui_test says
            await old.click()
        await ui.click_nth(TITLE, "CheckBox", 1)
        await asyncio.gather(*window.in_flight)
        await kit.frames()
        assert tree_rows(window) == ["Harbour", "Gate", "Tower roof"]

    asyncio.run(scenario())


def test_row_selection_selects_frames_and_shows_detail(painted, kit):
    window, panel, replay, selected, frames = painted
    (tree,) = widgets(window, "TreeView")
    gate = tree.model.find("m1")
    tree.user_select([gate])
    kit.frame()
    assert selected == [["/COP/Markers/m1"]]
    assert [(f.center, f.size) for f in frames] == [((1.0, 2.0, 3.0), 1.0)]  # the marker
    texts = label_texts(window)
    assert "Gate (warn)" in texts and "Building /World/B7" in texts
    assert "CityEngine:Rule:User:OBJECTID" in texts
    (plot,) = widgets(window, "Plot")
    assert plot.values == [20.0, 21.0, 22.0, 23.0, 24.0, 25.0]


def test_viewport_pick_selects_the_row_without_echo(painted, kit):
    window, panel, replay, selected, frames = painted
    window.update(panel.on_stage_selection(["/World/B7/Mesh"]))
    kit.frame()
    (tree,) = widgets(window, "TreeView")
    assert [item.sensor_id for item in tree.selection] == ["m1"]
    assert selected == [] and frames == []  # the stage already has its selection
    assert "Gate (warn)" in label_texts(window)


def test_as_of_shows_a_banner_and_live_clears_it(painted, kit):
    window, panel, replay, *_ = painted
    ui = kit.kit_test("_ui")

    async def scenario():
        by_id(window, "coptwin_as_of").model.set_value("v2")
        await ui.click(TITLE, "Button", text="Show")
        await asyncio.gather(*window.in_flight)
        await kit.frames()
        banner = widgets(window, "ZStack")[0]
        assert banner.visible is True
        banner_text = "NOT LIVE — showing the COP as of version 2."
        assert any(t.startswith(banner_text) for t in label_texts(window))
        by_id(window, "coptwin_as_of").model.set_value("someday")
        await ui.click(TITLE, "Button", text="Show")
        await asyncio.gather(*window.in_flight)
        assert any("neither a table version" in t for t in label_texts(window))
        await ui.click(TITLE, "Button", text="Live")
        await asyncio.gather(*window.in_flight)
        await kit.frames()
        assert banner.visible is False and replay.snap.status.as_of is None
        assert by_id(window, "coptwin_as_of").model.get_value_as_string() == ""

    asyncio.run(scenario())


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


# ----------------------------------------------------------------------------- a real engine


async def _running_panel(kit, cop_tables, city_stage, author="ann"):
    from coptwin.ui.panel import PanelVM
    from coptwin.ui.session import EngineSession

    kit.context.open_stage_object(city_stage)  # the live stage: main thread only
    kit.frame()
    session = EngineSession()
    assert session.start(cop_tables, city_stage), session.error
    panel = PanelVM(author=author)
    panel.bind(session.engine)

    def ready() -> bool:
        panel.refresh()
        return (
            panel.sensors.total == 3
            and panel.status.state == "Connected"
            and bool(panel.selection.prim_paths_for("t2"))
        )

    await kit.until(ready, "the engine")
    return session, panel


async def _until(kit, window, panel, ready, what: str) -> None:
    """What Kit's refresh timer does: refresh the panel and repaint, until ``ready()``."""

    def refreshed() -> bool:
        window.update(panel.refresh())
        kit.frame()
        return ready()

    await kit.until(refreshed, what)


def test_notes_buttons_reach_the_view_model_and_the_engine(kit, cop_tables, city_stage):
    kit.import_kit()
    from pxr import UsdGeom

    from coptwin.kit.window import CoptwinWindow
    from coptwin.scene import pins

    ui = kit.kit_test("_ui")

    async def click(text: str, index: int = 0) -> None:
        ref = [r for r in ui.find_all_texts(TITLE, "Button", text)][index]
        await ui.scroll_into_view(TITLE, "Button", ref)
        ref = [r for r in ui.find_all_texts(TITLE, "Button", text)][index]
        await ref.click()
        await asyncio.gather(*window.in_flight)
        await kit.frames()

    async def scenario():
        nonlocal window
        session, panel = await _running_panel(kit, cop_tables, city_stage)
        window = CoptwinWindow(panel, PALETTE)
        await kit.frames()
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
            await kit.frames()
            assert "Add a note to sensor Harbour" in label_texts(window)
            assert by_id(window, "coptwin_note_add").enabled is True
            # "Add" is below the fold of the 760 px window: an unscrolled click misses.
            add = ui.find(TITLE, "Button", identifier="coptwin_note_add")
            with pytest.raises(kit.standin.ClickMissed):
                await add.click()
            # Empty text: an error, nothing written.
            await click("Add")
            assert any(t.startswith("empty text") for t in label_texts(window))
            # Markup-looking text is kept and shown as it is.
            raw = "reads <b>high</b> & {since} the roof work"
            by_id(window, "coptwin_note_text").model.set_value(raw)
            await click("Add")
            assert by_id(window, "coptwin_note_text").model.get_value_as_string() == ""
            await _until(kit, window, panel, lambda: raw in label_texts(window), "the note's row")
            texts = label_texts(window)
            assert {"open", "ann", "sensor Harbour"} <= set(texts)
            assert "Open (1)" in [b.text for b in widgets(window, "Button")]
            (note,) = panel.notes_view.rows
            prim = city_stage.GetPrimAtPath(str(pins.pin_path(engine.overlay, note.annotation_id)))
            assert prim.GetAttribute(pins.ATTR_TEXT).Get() == raw
            # Reply uses the text field.
            by_id(window, "coptwin_note_text").model.set_value("it was the sun")
            await click("Reply")
            await _until(
                kit, window, panel, lambda: "it was the sun" in label_texts(window), "reply"
            )
            # Resolve: the "open" filter hides it; "Resolved" shows it with Reopen.
            await click("Resolve")
            await _until(kit, window, panel, lambda: panel.notes_view.rows == (), "the filter")
            assert "No notes on the selection for this filter." in label_texts(window)
            await click("Resolved (1)")
            assert raw in label_texts(window) and buttons(window, "Reopen")
            await click("Reopen")
            await _until(kit, window, panel, lambda: panel.notes_view.rows == (), "the reopen")
            assert buttons(window, "Open (1)")
            # The Annotations layer checkbox hides every pin.
            scope = city_stage.GetPrimAtPath(str(pins.scope_path(engine.overlay)))
            await ui.click(TITLE, "CheckBox", identifier="coptwin_notes_layer")
            assert UsdGeom.Imageable(scope).ComputeVisibility() == UsdGeom.Tokens.invisible
            await ui.click(TITLE, "CheckBox", identifier="coptwin_notes_layer")
            assert UsdGeom.Imageable(scope).ComputeVisibility() == UsdGeom.Tokens.inherited
            # A typed point becomes the target; a bad one is an error.
            by_id(window, "coptwin_note_point").model.set_value("1, 2")
            await click("Use")
            assert any("is not a point" in t for t in label_texts(window))
            by_id(window, "coptwin_note_point").model.set_value("3, 4, 5")
            await click("Use")
            assert "Add a note to point (3.0, 4.0, 5.0)" in label_texts(window)
            await click("Clear")
            assert "Add a note to sensor Harbour" in label_texts(window)
            # The author field signs the next note.
            by_id(window, "coptwin_note_author").model.set_value("")
            by_id(window, "coptwin_note_text").model.set_value("who am I")
            await click("Add")
            assert any(t.startswith("missing author") for t in label_texts(window))
        finally:
            window.destroy()
            session.stop()

    window = None
    asyncio.run(scenario())


def test_refresh_repaints_only_the_rows_that_changed(kit, cop_tables, city_stage):
    """Issue 11.7: a new reading for one sensor rebuilds one row, not the table."""
    kit.import_kit()
    from coptwin.kit.window import CoptwinWindow

    data = kit.kit_test("_data")

    async def scenario():
        session, panel = await _running_panel(kit, cop_tables, city_stage)
        window = CoptwinWindow(panel, PALETTE)
        await kit.frames()
        try:
            (tree,) = widgets(window, "TreeView")
            for _ in range(3):  # steady state: nothing changed, nothing is rebuilt
                window.update(panel.refresh())
                kit.frame()
            rows, full = tree.rows_built, tree.full_redraws
            data.append_reading(cop_tables.parent, "t1", 22.5)  # same status, new value
            await _until(
                kit,
                window,
                panel,
                lambda: "22.5 °C" in [c.text for c in tree.cells if hasattr(c, "text")],
                "the new value",
            )
            assert tree.full_redraws == full, "the whole table was rebuilt for one reading"
            assert tree.rows_built - rows == 1
        finally:
            window.destroy()
            session.stop()

    asyncio.run(scenario())


def test_show_before_the_engine_opened_reads_nothing_on_the_main_thread(
    kit, cop_tables, city_stage, monkeypatch
):
    """Issue 11.2: the as-of buttons never read storage on Kit's main thread, and an
    early press attaches no second overlay."""
    from coptwin.delta import TableWatcher
    from coptwin.engine.engine import Engine

    main = threading.current_thread()
    on_main: list[str] = []
    gate = threading.Event()
    for name in ("poll", "snapshot"):
        original = getattr(TableWatcher, name)

        def spy(self, *args, _name=name, _original=original, **kwargs):
            if threading.current_thread() is main:
                on_main.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(TableWatcher, name, spy)
    prepare_open = Engine.prepare_open

    def gated(self, *args, **kwargs):
        if threading.current_thread() is not main:
            gate.wait(10)  # the worker's open waits until the button was pressed
        return prepare_open(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "prepare_open", gated)
    kit.settings(config_path=str(cop_tables), refresh_interval_s=0.02)
    kit.context.open_stage_object(city_stage)
    kit.frame()
    ui = kit.kit_test("_ui")

    async def scenario():
        kit.manager.set_extension_enabled_immediate("coptwin", True)
        ext = kit.manager.instance
        try:
            await kit.frames()
            by_id(ext.window, "coptwin_as_of").model.set_value("0")
            await ui.click(TITLE, "Button", text="Show")
            await asyncio.gather(*ext.window.in_flight)
            assert "still opening" in ext.panel.time.error
            gate.set()
            await kit.until(lambda: ext.panel.sensors.total == 3, "the open")
            await kit.frames(5)
            assert len(city_stage.GetSessionLayer().subLayerPaths) == 1
            assert on_main == []
            await ui.click(TITLE, "Button", text="Show")  # now it travels, in a worker
            await asyncio.gather(*ext.window.in_flight)
            assert ext.panel.time.error == "" and ext.session.engine.as_of == 0
            assert on_main == []
        finally:
            gate.set()
            kit.manager.set_extension_enabled_immediate("coptwin", False)

    asyncio.run(scenario())


def test_clicking_a_marker_instance_selects_its_row_and_frame_shows_it(kit, cop_tables, city_stage):
    """Issue 11.4: a click on a marker (a PointInstancer instance) selects its sensor."""
    kit.settings(config_path=str(cop_tables), refresh_interval_s=0.02)
    kit.context.open_stage_object(city_stage)
    kit.frame()

    async def scenario():
        kit.manager.set_extension_enabled_immediate("coptwin", True)
        ext = kit.manager.instance
        try:
            panel = ext.panel
            await kit.until(lambda: bool(panel.selection.prim_paths_for("t2")), "the markers")
            engine = ext.session.engine
            (instancer,) = [
                p for p, lay in engine.overlay.instancers().items() if lay == "environment"
            ]
            x, y, z = engine.positions["t2"]
            # Kit selects the instancer (or a prototype below it) and answers the pick
            # query with the point hit on the marker's surface.
            kit.viewport.click(instancer + "/Prototypes/temperature", (x + 0.5, y, z + 0.8))
            await kit.frames(4)
            assert panel.selection.selected == "t2"
            selection = kit.context.get_selection().get_selected_prim_paths()
            assert selection == [str(engine.overlay.marker_path("t2"))]
            (tree,) = widgets(ext.window, "TreeView")
            assert [i.sensor_id for i in tree.selection] == ["t2"]
            # Framing the row looks at the marker itself.
            panel.select_row("t2")
            assert kit.viewport.viewport_api.camera_target == (x, y, z)
        finally:
            kit.manager.set_extension_enabled_immediate("coptwin", False)

    asyncio.run(scenario())


# ----------------------------------------------------------------------------- alarms

ALARMS_CONFIG = """
[tables.alarms]
path = "alarms"

[rules.temperature]
warn_high = 30.0
alarm_high = 35.0
"""


def test_alarm_list_badge_ack_shelve_unshelve_and_the_ring(kit, cop_tables, city_stage):
    """Issue 15.5: the Harbour sensor (41 °C) raises an alarm; the panel lists it with a
    badge and a ring around its marker; Ack, Shelve… (reason, until) and Unshelve are
    commits that come back through the engine's table watcher."""
    kit.import_kit()
    from pxr import UsdGeom

    from coptwin.alarms.store import AlarmStore
    from coptwin.config import load_config
    from coptwin.kit.window import CoptwinWindow
    from coptwin.scene.rings import ring_path

    cop_tables.write_text(cop_tables.read_text(encoding="utf-8") + ALARMS_CONFIG, encoding="utf-8")
    ui = kit.kit_test("_ui")

    async def click(text: str) -> None:
        ref = ui.find(TITLE, "Button", text=text)
        await ui.scroll_into_view(TITLE, "Button", ref)
        await ui.find(TITLE, "Button", text=text).click()
        await asyncio.gather(*window.in_flight)
        await kit.frames()

    def ring_count() -> int:
        prim = city_stage.GetPrimAtPath(str(ring_path(engine.overlay)))
        return len(UsdGeom.PointInstancer(prim).GetPositionsAttr().Get() or []) if prim else 0

    async def scenario():
        nonlocal window, engine
        session, panel = await _running_panel(kit, cop_tables, city_stage)
        engine = session.engine
        window = CoptwinWindow(panel, PALETTE)
        await kit.frames()
        try:
            await _until(kit, window, panel, lambda: panel.alarms_view.items, "the alarm")
            texts = label_texts(window)
            assert {"ACTIVE · unacknowledged", "Harbour"} <= set(texts)
            assert any(t.startswith("value 41 °C above alarm_high 35") for t in texts)
            badge = by_id(window, "coptwin_alarm_badge")
            assert (badge.text, badge.name) == ("1 unacknowledged of 1 alarm", "badge_error")
            assert [w.name for w in widgets(window, "Rectangle")].count("alarm_unack") == 1
            assert ring_count() == 1
            # Ack: a commit in a worker; the engine reads it back; the ring goes.
            await click("Ack")
            # The list follows the engine's book (folded in the worker half); the ring goes
            # at the next commit on the main thread, a frame later at most.
            await _until(
                kit,
                window,
                panel,
                lambda: "active · acknowledged" in label_texts(window) and ring_count() == 0,
                "the acknowledgement and the ring gone",
            )
            assert "acknowledged by ann" in label_texts(window)
            assert buttons(window, "Ack") == []
            assert badge.text == "1 open alarm, all acknowledged"
            # Shelve…: the form asks for a reason; an empty one is refused, nothing written.
            form = [
                w
                for w in widgets(window, "VStack")
                if by_id(window, "coptwin_shelve_ok") in w.walk()
            ]
            assert form[-1].visible is False
            await click("Shelve…")
            assert form[-1].visible is True
            assert any(t.startswith("Shelve the alarm of Harbour") for t in label_texts(window))
            await click("Shelve")
            assert any(t.startswith("shelve needs a reason") for t in label_texts(window))
            by_id(window, "coptwin_shelve_reason").model.set_value("sensor in the sun")
            by_id(window, "coptwin_shelve_until").model.set_value("2h")
            await click("Shelve")
            await _until(kit, window, panel, lambda: buttons(window, "Unshelve"), "the shelving")
            assert any(
                "by ann: sensor in the sun" in t and t.startswith("acknowledged by ann")
                for t in label_texts(window)
            )
            assert form[-1].visible is False  # shelved: the form closed
            await click("Unshelve")
            await _until(
                kit, window, panel, lambda: not buttons(window, "Unshelve"), "the unshelve"
            )
            config = load_config(cop_tables)
            events = AlarmStore.from_config(config).read()["event"].to_list()
            assert sorted(events) == ["acknowledged", "raised", "shelved", "unshelved"]
        finally:
            window.destroy()
            session.stop()

    window = engine = None
    asyncio.run(scenario())
