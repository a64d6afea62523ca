"""Startup/shutdown cycle of the coptwin extension inside a real Kit."""

from __future__ import annotations

import omni.kit.test
import omni.ui as ui
import omni.usd

from ..window import TITLE
from ._kit import CopFixture, instance, set_enabled, until
from ._ui import frames


def _overlays(stage) -> int:
    return len(stage.GetSessionLayer().subLayerPaths)


class TestExtensionLifecycle(omni.kit.test.AsyncTestCase):
    async def setUp(self) -> None:
        self.cop = CopFixture()
        await self.cop.set_up()

    async def tearDown(self) -> None:
        await self.cop.tear_down()

    async def test_engine_runs_on_the_open_stage(self) -> None:
        ext = instance()
        self.assertIsNotNone(ext)
        self.assertIsNotNone(ext.session.engine, ext.panel.status.text)
        self.assertTrue(ext.session.running)
        stage = omni.usd.get_context().get_stage()
        self.assertTrue(await until(lambda: _overlays(stage) == 1), ext.panel.status.text)

    async def test_disable_enable_leaves_one_overlay_and_one_window(self) -> None:
        stage = omni.usd.get_context().get_stage()
        for _ in range(3):
            set_enabled(False)
            await frames()
            self.assertIsNone(instance())
            self.assertEqual(len(stage.GetSessionLayer().subLayerPaths), 0)
            set_enabled(True)
            self.assertTrue(await until(lambda: _overlays(stage) == 1))
            await frames()
            self.assertEqual(_overlays(stage), 1)
        windows = [w for w in ui.Workspace.get_windows() if w.title == TITLE]
        self.assertEqual(len(windows), 1)

    async def test_stage_close_and_reopen_follow(self) -> None:
        await omni.usd.get_context().close_stage_async()
        await frames()
        ext = instance()
        self.assertIsNone(ext.session.engine)
        self.assertEqual(ext.panel.status.text, "Stopped: no stage is open")
        await omni.usd.get_context().new_stage_async()
        await frames()
        self.assertIsNotNone(instance().session.engine, instance().panel.status.text)
