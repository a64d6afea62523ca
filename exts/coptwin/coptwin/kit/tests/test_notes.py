"""Reviewers' notes through the coptwin panel inside a real Kit: a note reaches the stage."""

from __future__ import annotations

import omni.kit.ui_test as ui_test
import omni.usd
from pxr import UsdGeom

from ...scene import pins
from ..window import TITLE
from ._kit import PanelTestCase, instance, until
from ._ui import click, find, frames


class TestNotes(PanelTestCase):
    settings = {"refresh_interval_s": 0.1, "author": "kit-test"}

    async def test_note_added_through_the_panel_reaches_the_stage(self) -> None:
        ext = instance()
        engine = ext.session.engine
        self.assertIsNotNone(engine, ext.panel.status.text)
        self.assertEqual(ext.panel.author, "kit-test")
        marker = engine.overlay.marker_path("t2")
        omni.usd.get_context().get_selection().set_selected_prim_paths([str(marker)], True)
        await frames()
        self.assertEqual(ext.panel.notes_view.add_label, "Add a note to sensor Harbour")
        field = find(TITLE, "StringField", identifier="coptwin_note_text")
        self.assertIsNotNone(field)
        field.model.set_value("seen from Kit <b>as typed</b>")
        # "Add" sits below the fold of the 760 px window: click() scrolls it into view.
        await click(TITLE, "Button", identifier="coptwin_note_add")
        stage = omni.usd.get_context().get_stage()

        def pin():
            rows = instance().panel.notes_view.rows
            if not rows:
                return None
            prim = stage.GetPrimAtPath(str(pins.pin_path(engine.overlay, rows[0].annotation_id)))
            return prim if prim.IsValid() else None

        self.assertTrue(await until(lambda: pin() is not None), instance().panel.notes_view)
        prim = pin()
        self.assertEqual(instance().panel.notes_view.error, "")
        self.assertEqual(prim.GetAttribute(pins.ATTR_TEXT).Get(), "seen from Kit <b>as typed</b>")
        self.assertEqual(prim.GetAttribute(pins.ATTR_AUTHOR).Get(), "kit-test")
        await frames()
        labels = [w.widget.text for w in ui_test.find_all(f"{TITLE}//Frame/**/Label[*]")]
        self.assertIn("seen from Kit <b>as typed</b>", labels)
        # The Annotations layer row hides every pin.
        await click(TITLE, "CheckBox", identifier="coptwin_notes_layer")
        self.assertEqual(UsdGeom.Imageable(prim).ComputeVisibility(), UsdGeom.Tokens.invisible)
