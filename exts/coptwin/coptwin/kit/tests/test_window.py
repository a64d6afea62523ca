"""The coptwin panel inside a real Kit: it builds, and a layer toggle reaches the stage."""

from __future__ import annotations

import omni.kit.ui_test as ui_test
import omni.usd
from pxr import UsdGeom

from ..window import TITLE
from ._kit import PanelTestCase, instance, until
from ._ui import click_nth


class TestWindow(PanelTestCase):
    async def test_window_builds_with_status_layers_and_table(self) -> None:
        ext = instance()
        self.assertEqual(ext.panel.sensors.total, 3, ext.panel.status.text)
        labels = [w.widget.text for w in ui_test.find_all(f"{TITLE}//Frame/**/Label[*]")]
        self.assertIn(ext.panel.status.text, labels)
        for layer in ext.panel.layers.items:
            self.assertIn(layer.label, labels)
        self.assertTrue(ui_test.find(f"{TITLE}//Frame/**/TreeView[*]"))

    async def test_layer_toggle_reaches_the_stage(self) -> None:
        ext = instance()
        engine = ext.session.engine
        self.assertIsNotNone(engine, ext.panel.status.text)
        stage = omni.usd.get_context().get_stage()
        marker = stage.GetPrimAtPath(str(engine.overlay.marker_path("m1")))
        self.assertTrue(marker.IsValid())
        names = [item.name for item in ext.panel.layers.items]
        # The layers frame is rebuilt by each toggle: click_nth queries the checkbox afresh.
        await click_nth(TITLE, "CheckBox", names.index("security"))
        self.assertEqual(UsdGeom.Imageable(marker).ComputeVisibility(), UsdGeom.Tokens.invisible)
        # The table follows after a refresh in a worker thread.
        self.assertTrue(await until(lambda: len(instance().panel.sensors.items) == 2))
        await click_nth(TITLE, "CheckBox", names.index("security"))
        self.assertEqual(UsdGeom.Imageable(marker).ComputeVisibility(), UsdGeom.Tokens.inherited)
