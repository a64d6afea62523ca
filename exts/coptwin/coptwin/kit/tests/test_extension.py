"""Startup/shutdown cycle of the coptwin extension inside a real Kit."""

from __future__ import annotations

import tempfile
from pathlib import Path

import carb.settings
import omni.kit.app
import omni.kit.test
import omni.ui as ui
import omni.usd

from ..extension import get_instance
from ..window import TITLE
from ._data import CITY_FILE, write_cop

EXT_NAME = "coptwin"


async def _frames(n: int = 5) -> None:
    app = omni.kit.app.get_app()
    for _ in range(n):
        await app.next_update_async()


async def _until(predicate, frames: int = 300) -> bool:
    """Wait (bounded) for the engine: it opens in a worker thread, then attaches."""
    for _ in range(frames):
        if predicate():
            return True
        await omni.kit.app.get_app().next_update_async()
    return predicate()


def _overlays(stage) -> int:
    return len(stage.GetSessionLayer().subLayerPaths)


def _set_enabled(enabled: bool) -> None:
    manager = omni.kit.app.get_app().get_extension_manager()
    manager.set_extension_enabled_immediate(EXT_NAME, enabled)


class TestExtensionLifecycle(omni.kit.test.AsyncTestCase):
    async def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self._settings = carb.settings.get_settings()
        self._settings.set("/exts/coptwin/config_path", str(write_cop(Path(self._tmp.name))))
        await omni.usd.get_context().open_stage_async(str(Path(self._tmp.name) / CITY_FILE))
        _set_enabled(False)
        _set_enabled(True)
        await _frames()

    async def tearDown(self) -> None:
        self._settings.set("/exts/coptwin/config_path", "")
        _set_enabled(False)
        _set_enabled(True)
        await _frames()
        self._tmp.cleanup()

    async def test_engine_runs_on_the_open_stage(self) -> None:
        ext = get_instance()
        self.assertIsNotNone(ext)
        self.assertIsNotNone(ext.session.engine, ext.panel.status.text)
        self.assertTrue(ext.session.running)
        stage = omni.usd.get_context().get_stage()
        self.assertTrue(await _until(lambda: _overlays(stage) == 1), ext.panel.status.text)

    async def test_disable_enable_leaves_one_overlay_and_one_window(self) -> None:
        stage = omni.usd.get_context().get_stage()
        for _ in range(3):
            _set_enabled(False)
            await _frames()
            self.assertIsNone(get_instance())
            self.assertEqual(len(stage.GetSessionLayer().subLayerPaths), 0)
            _set_enabled(True)
            self.assertTrue(await _until(lambda: _overlays(stage) == 1))
            await _frames()
            self.assertEqual(_overlays(stage), 1)
        windows = [w for w in ui.Workspace.get_windows() if w.title == TITLE]
        self.assertEqual(len(windows), 1)

    async def test_stage_close_and_reopen_follow(self) -> None:
        ext = get_instance()
        await omni.usd.get_context().close_stage_async()
        await _frames()
        self.assertIsNone(ext.session.engine)
        self.assertEqual(ext.panel.status.text, "Stopped: no stage is open")
        await omni.usd.get_context().new_stage_async()
        await _frames()
        self.assertIsNotNone(ext.session.engine, ext.panel.status.text)
