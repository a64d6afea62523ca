"""The panel's notes section against a real Engine over local Delta tables and a real stage.

Notes go through PanelVM exactly as the Kit window sends them: the commit
runs in a worker thread, then the engine is asked to read the annotations
table, folds the event into its book and draws the pin.  Tests wait for the
engine's tick by polling the panel (bounded), never for a fixed time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from pxr import UsdGeom

from coptwin.annotations.store import AnnotationStore
from coptwin.config import load_config
from coptwin.engine.engine import Engine
from coptwin.scene import pins
from coptwin.ui.panel import PanelVM, parse_point
from coptwin.ui.session import EngineSession
from tests.support.wait import until


async def shown(panel: PanelVM, ready: Callable[[], bool], what: str) -> None:
    """Refresh the panel (as Kit's timer does) until ``ready()``; bounded."""

    def refreshed() -> bool:
        panel.refresh()
        return ready()

    await until(refreshed, what=what)


async def drawn_pin(city, engine, annotation_id: str):
    """The note's pin once the engine's tick has committed it (the notes list follows
    the book, which the engine folds in its worker before it draws the pin)."""

    def prim():
        return city.GetPrimAtPath(str(pins.pin_path(engine.overlay, annotation_id)))

    await until(lambda: prim().IsValid(), what=f"the pin of note {annotation_id}")
    return prim()


def table_version(session: EngineSession) -> int | None:
    return AnnotationStore.from_config(session.engine.config).version()


async def bound(
    start_session, cop_config, city, author: str = "ann"
) -> tuple[EngineSession, PanelVM]:
    session = await start_session(cop_config, city)
    panel = PanelVM(author=author)
    panel.bind(session.engine)
    panel.refresh()
    return session, panel


def test_note_on_the_selected_sensor_is_listed_and_pinned(start_session, cop_config, city):
    async def scenario():
        session, panel = await bound(start_session, cop_config, city)
        engine = session.engine
        try:
            view = panel.notes_view
            assert view.enabled and view.rows == () and view.author == "ann"
            assert not view.can_add  # nothing selected yet
            panel.select_row("t2")
            assert panel.notes_view.add_label == "Add a note to sensor Harbour"
            changes = await panel.add_note("reads high since the roof work")
            assert changes.notes and panel.notes_view.error == "", panel.notes_view.error
            await shown(panel, lambda: len(panel.notes_view.rows) == 1, "the note to be folded")
            row = panel.notes_view.rows[0]
            assert (row.text, row.author, row.status) == (
                "reads high since the roof work",
                "ann",
                "open",
            )
            assert row.target == "sensor:t2" and row.target_label == "sensor Harbour"
            assert row.when.endswith(" UTC")
            prim = await drawn_pin(city, engine, row.annotation_id)
            assert prim.GetAttribute(pins.ATTR_TEXT).Get() == "reads high since the roof work"
            assert panel.layers.notes is not None
            assert panel.layers.notes.counts_text == "1 open · 0 resolved"
            # Only the selection's notes are listed; "all" shows every note.
            panel.select_row("t1")
            assert panel.notes_view.rows == ()
            panel.set_notes_scope("all")
            assert [r.annotation_id for r in panel.notes_view.rows] == [row.annotation_id]
        finally:
            session.stop()

    asyncio.run(scenario())


def test_resolve_changes_status_and_the_filter_hides_it(start_session, cop_config, city):
    async def scenario():
        session, panel = await bound(start_session, cop_config, city)
        engine = session.engine
        try:
            panel.select_row("t1")
            await panel.add_note("fan noise")
            await shown(panel, lambda: len(panel.notes_view.rows) == 1, "the note")
            root = panel.notes_view.rows[0]
            assert root.can_resolve
            await panel.reply_note(root.annotation_id, "checked, it is the fan")
            await shown(panel, lambda: len(panel.notes_view.rows) == 2, "the reply")
            assert [(r.depth, r.text) for r in panel.notes_view.rows] == [
                (0, "fan noise"),
                (1, "checked, it is the fan"),
            ]
            await panel.resolve_note(root.annotation_id)
            await shown(panel, lambda: panel.notes_view.rows == (), "the filter to hide it")
            assert panel.notes_view.counts == {"open": 0, "resolved": 1, "all": 1}
            # the book folds in the engine's worker; its pin is redrawn when the tick commits
            prim = await drawn_pin(city, engine, root.annotation_id)
            await until(lambda: prim.GetAttribute(pins.ATTR_STATUS).Get() == "resolved")
            panel.set_notes_filter("resolved")
            rows = panel.notes_view.rows
            assert [r.status for r in rows] == ["resolved", "resolved"] and rows[0].can_reopen
            await panel.reopen_note(root.annotation_id)
            await shown(panel, lambda: panel.notes_view.rows == (), "the reopened thread to leave")
            panel.set_notes_filter("open")
            assert panel.notes_view.rows[0].status == "open"
        finally:
            session.stop()

    asyncio.run(scenario())


def test_annotations_layer_toggle_hides_the_pins_scope(start_session, cop_config, city):
    async def scenario():
        session, panel = await bound(start_session, cop_config, city)
        engine = session.engine
        try:
            panel.on_stage_selection(["/World/Buildings/B1/Mesh"])
            assert panel.notes_view.add_label == "Add a note to Mesh"
            panel.on_stage_selection(["/World/Buildings/B1"])
            await panel.add_note("camera view blocked")
            await shown(panel, lambda: len(panel.notes_view.rows) == 1, "the note")
            note = panel.notes_view.rows[0]
            scope = city.GetPrimAtPath(str(pins.scope_path(engine.overlay)))
            prim = await drawn_pin(city, engine, note.annotation_id)
            assert UsdGeom.Imageable(prim).ComputeVisibility() == UsdGeom.Tokens.inherited
            assert panel.toggle_notes_layer(False).layers
            assert panel.layers.notes.visible is False
            assert UsdGeom.Imageable(scope).ComputeVisibility() == UsdGeom.Tokens.invisible
            assert UsdGeom.Imageable(prim).ComputeVisibility() == UsdGeom.Tokens.invisible
            panel.refresh()
            assert panel.layers.notes.visible is False  # a refresh keeps the user's choice
            # hiding notes hides no sensor row
            assert len(panel.sensors.items) == panel.sensors.total == 3
            panel.toggle_notes_layer(True)
            assert UsdGeom.Imageable(prim).ComputeVisibility() == UsdGeom.Tokens.inherited
            # picking the pin focuses its thread
            panel.set_notes_scope("all")
            changes = panel.on_stage_selection([str(prim.GetPath())])
            assert changes.notes and panel.notes_view.focused == note.annotation_id
            panel.set_notes_scope("selection")
            assert [r.annotation_id for r in panel.notes_view.rows] == [note.annotation_id]
        finally:
            session.stop()

    asyncio.run(scenario())


def test_note_at_a_clicked_point(start_session, cop_config, city):
    async def scenario():
        session, panel = await bound(start_session, cop_config, city)
        try:
            panel.set_note_point("1, 2")
            assert "not a point" in panel.notes_view.error
            panel.set_note_point("12.5, -3, 0")
            assert panel.notes_view.point == "12.5, -3, 0"
            assert panel.notes_view.add_label == "Add a note to point (12.5, -3.0, 0.0)"
            await panel.add_note("puddle here")
            assert panel.notes_view.point == ""  # used up
            panel.set_notes_scope("all")
            await shown(panel, lambda: len(panel.notes_view.rows) == 1, "the note")
            assert panel.notes_view.rows[0].target == "point:12.5,-3.0,0.0"
            await drawn_pin(city, session.engine, panel.notes_view.rows[0].annotation_id)
        finally:
            session.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("author", "select", "text", "message"),
    [
        ("ann", ["t1"], "   ", "empty"),
        ("ann", [], "hello", "no target"),
        ("", ["t1"], "hello", "author"),
        ("ann", ["t1"], "x\x00y", "control"),
    ],
)
def test_bad_input_shows_an_error_and_writes_nothing(
    start_session, cop_config, city, author, select, text, message
):
    async def scenario():
        session, panel = await bound(start_session, cop_config, city, author=author)
        try:
            for sensor in select:
                panel.select_row(sensor)
            assert table_version(session) is None  # the first note would create it
            changes = await panel.add_note(text)
            assert changes.notes
            assert message in panel.notes_view.error.lower(), panel.notes_view.error
            assert table_version(session) is None
            if author:  # once the table exists, a bad note leaves its version as it was
                panel.select_row("t1")
                await panel.add_note("a good note")
                version = table_version(session)
                assert version is not None
                await panel.add_note("")
                assert "empty" in panel.notes_view.error
                assert table_version(session) == version
        finally:
            session.stop()

    asyncio.run(scenario())


def test_unknown_prim_target_is_refused_before_the_worker(start_session, cop_config, city):
    async def scenario():
        session, panel = await bound(start_session, cop_config, city)
        try:
            panel.on_stage_selection(["/World/Nowhere"])
            await panel.add_note("hello")
            assert "unknown prim" in panel.notes_view.error
            assert table_version(session) is None
        finally:
            session.stop()

    asyncio.run(scenario())


def test_without_an_annotations_table_the_section_says_why(cop_config, city, tmp_path: Path):
    text = cop_config.read_text(encoding="utf-8").replace("[tables.annotations]", "[unused]")
    text = text.replace('[unused]\npath = "annotations"\n', "")
    no_notes = cop_config.with_name("no_notes.toml")
    no_notes.write_text(text, encoding="utf-8")
    engine = Engine(load_config(no_notes), city)
    panel = PanelVM(author="ann")
    panel.bind(engine)
    panel.refresh()
    assert not panel.notes_view.enabled
    assert "tables.annotations" in panel.notes_view.reason
    assert panel.layers.notes is None
    panel.bind(None)
    assert panel.notes_view.reason == "the COP is not running"


def test_parse_point():
    assert parse_point("1, 2.5, -3") == (1.0, 2.5, -3.0)
    assert parse_point("1 2 3") == (1.0, 2.0, 3.0)
    with pytest.raises(ValueError, match="must be numbers"):
        parse_point("a, b, c")
