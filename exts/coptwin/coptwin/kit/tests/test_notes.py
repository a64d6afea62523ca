"""Reviewers' notes through the coptwin panel inside a real Kit: a note reaches the stage."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import carb.settings
import omni.kit.app
import omni.kit.test
import omni.kit.ui_test as ui_test
import omni.usd
from pxr import UsdGeom

from ...scene import pins
from ..extension import get_instance
from ..window import TITLE
from ._data import CITY_FILE, write_cop


async def _frames(n: int = 5) -> None:
    app = omni.kit.app.get_app()
    for _ in range(n):
        await app.next_update_async()


def _by_identifier(kind: str, identifier: str):
    """The panel widget of ``kind`` with ``identifier`` (filtered here, query-syntax free)."""
    found = [
        ref
        for ref in ui_test.find_all(f"{TITLE}//Frame/**/{kind}[*]")
        if getattr(ref.widget, "identifier", "") == identifier
    ]
    return found[0] if found else None


class TestNotes(omni.kit.test.AsyncTestCase):
    async def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        settings = carb.settings.get_settings()
        settings.set("/exts/coptwin/config_path", str(write_cop(Path(self._tmp.name))))
        settings.set("/exts/coptwin/refresh_interval_s", 0.1)
        settings.set("/exts/coptwin/author", "kit-test")
        await omni.usd.get_context().open_stage_async(str(Path(self._tmp.name) / CITY_FILE))
        manager = omni.kit.app.get_app().get_extension_manager()
        manager.set_extension_enabled_immediate("coptwin", False)
        manager.set_extension_enabled_immediate("coptwin", True)
        self.ext = get_instance()
        for _ in range(100):  # wait (bounded) for the first tick to reach the panel
            await asyncio.sleep(0.05)
            if self.ext.panel.sensors.total == 3:
                break
        await _frames()

    async def tearDown(self) -> None:
        settings = carb.settings.get_settings()
        settings.set("/exts/coptwin/config_path", "")
        settings.set("/exts/coptwin/author", "")
        self._tmp.cleanup()

    async def test_note_added_through_the_panel_reaches_the_stage(self) -> None:
        engine = self.ext.session.engine
        self.assertIsNotNone(engine, self.ext.panel.status.text)
        self.assertEqual(self.ext.panel.author, "kit-test")
        marker = engine.overlay.marker_path("t2")
        omni.usd.get_context().get_selection().set_selected_prim_paths([str(marker)], True)
        await _frames()
        self.assertEqual(self.ext.panel.notes_view.add_label, "Add a note to sensor Harbour")
        field = _by_identifier("StringField", "coptwin_note_text")
        add = _by_identifier("Button", "coptwin_note_add")
        self.assertIsNotNone(field)
        self.assertIsNotNone(add)
        field.model.set_value("seen from Kit <b>as typed</b>")
        await add.click()
        stage = omni.usd.get_context().get_stage()
        prim = None
        for _ in range(100):  # the write runs in a worker, then the engine ticks
            await asyncio.sleep(0.05)
            rows = self.ext.panel.notes_view.rows
            if rows:
                path = pins.pin_path(engine.overlay, rows[0].annotation_id)
                prim = stage.GetPrimAtPath(str(path))
                if prim.IsValid():
                    break
        self.assertEqual(self.ext.panel.notes_view.error, "")
        self.assertTrue(prim is not None and prim.IsValid(), self.ext.panel.notes_view)
        self.assertEqual(prim.GetAttribute(pins.ATTR_TEXT).Get(), "seen from Kit <b>as typed</b>")
        self.assertEqual(prim.GetAttribute(pins.ATTR_AUTHOR).Get(), "kit-test")
        await _frames()
        labels = [w.widget.text for w in ui_test.find_all(f"{TITLE}//Frame/**/Label[*]")]
        self.assertIn("seen from Kit <b>as typed</b>", labels)
        # The Annotations layer row hides every pin.
        toggle = _by_identifier("CheckBox", "coptwin_notes_layer")
        self.assertIsNotNone(toggle)
        await toggle.click()
        await _frames()
        self.assertEqual(UsdGeom.Imageable(prim).ComputeVisibility(), UsdGeom.Tokens.invisible)
