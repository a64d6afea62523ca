"""The coptwin panel inside a real Kit: it builds, and a layer toggle reaches the stage."""

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

from ..extension import get_instance
from ..window import TITLE
from ._data import CITY_FILE, write_cop


async def _frames(n: int = 5) -> None:
    app = omni.kit.app.get_app()
    for _ in range(n):
        await app.next_update_async()


class TestWindow(omni.kit.test.AsyncTestCase):
    async def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        settings = carb.settings.get_settings()
        settings.set("/exts/coptwin/config_path", str(write_cop(Path(self._tmp.name))))
        settings.set("/exts/coptwin/refresh_interval_s", 0.1)
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
        carb.settings.get_settings().set("/exts/coptwin/config_path", "")
        self._tmp.cleanup()

    async def test_window_builds_with_status_layers_and_table(self) -> None:
        self.assertEqual(self.ext.panel.sensors.total, 3, self.ext.panel.status.text)
        labels = [w.widget.text for w in ui_test.find_all(f"{TITLE}//Frame/**/Label[*]")]
        self.assertIn(self.ext.panel.status.text, labels)
        for layer in self.ext.panel.layers.items:
            self.assertIn(layer.label, labels)
        self.assertTrue(ui_test.find(f"{TITLE}//Frame/**/TreeView[*]"))

    async def test_layer_toggle_reaches_the_stage(self) -> None:
        engine = self.ext.session.engine
        self.assertIsNotNone(engine, self.ext.panel.status.text)
        stage = omni.usd.get_context().get_stage()
        marker = stage.GetPrimAtPath(str(engine.overlay.marker_path("m1")))
        self.assertTrue(marker.IsValid())
        checkboxes = ui_test.find_all(f"{TITLE}//Frame/**/CheckBox[*]")
        names = [item.name for item in self.ext.panel.layers.items]
        await checkboxes[names.index("security")].click()
        await _frames()
        self.assertEqual(UsdGeom.Imageable(marker).ComputeVisibility(), UsdGeom.Tokens.invisible)
        self.assertEqual(len(self.ext.panel.sensors.items), 2)
        await checkboxes[names.index("security")].click()
        await _frames()
        self.assertEqual(UsdGeom.Imageable(marker).ComputeVisibility(), UsdGeom.Tokens.inherited)
