"""Set-up shared by the Kit tests: the extension as it is *now*, and a clean tearDown.

Kit unloads an extension's Python modules when it is disabled, so a test must
not keep ``get_instance`` (or any coptwin object) from before a disable/enable:
:func:`instance` looks the module up again each time.  :class:`CopFixture`
points the extension at a temporary COP and, in tearDown, closes the stage
(the engine stops), restores every setting it changed and only then deletes
the folder, so no engine is left reading a deleted folder (whose errors would
fail the run through the test runner's stdoutFailPatterns).
"""

from __future__ import annotations

import importlib
import tempfile
import time
from pathlib import Path

import carb.settings
import omni.kit.app
import omni.kit.test
import omni.usd

from ._data import CITY_FILE, write_cop
from ._ui import frames

EXT_NAME = "coptwin"


def instance():
    """The running extension, from the coptwin module loaded now (None when disabled)."""
    return importlib.import_module("coptwin.kit.extension").get_instance()


def set_enabled(enabled: bool) -> None:
    manager = omni.kit.app.get_app().get_extension_manager()
    manager.set_extension_enabled_immediate(EXT_NAME, enabled)


async def until(predicate, timeout_s: float = 30.0) -> bool:
    """Wait (bounded in time, not frames) for the engine: it works in worker threads."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await frames(1)
    return predicate()


class CopFixture:
    """A temporary COP (tiny city + Delta tables), the settings pointing at it, the stage open."""

    def __init__(self, **settings: object) -> None:
        self._settings = carb.settings.get_settings()
        self._extra = settings
        self._saved: dict[str, object] = {}
        self._tmp: tempfile.TemporaryDirectory | None = None

    def _set(self, key: str, value: object) -> None:
        path = f"/exts/coptwin/{key}"
        self._saved.setdefault(path, self._settings.get(path))
        self._settings.set(path, value)

    async def set_up(self) -> Path:
        self._tmp = tempfile.TemporaryDirectory()
        folder = Path(self._tmp.name)
        self._set("config_path", str(write_cop(folder)))
        for key, value in self._extra.items():
            self._set(key, value)
        await omni.usd.get_context().open_stage_async(str(folder / CITY_FILE))
        set_enabled(False)
        set_enabled(True)
        await frames()
        return folder

    async def tear_down(self) -> None:
        await omni.usd.get_context().close_stage_async()  # the engine stops with its stage
        await frames()
        for path, value in self._saved.items():
            if value is None:
                self._settings.destroy_item(path)
            else:
                self._settings.set(path, value)
        self._saved.clear()
        await frames()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


class PanelTestCase(omni.kit.test.AsyncTestCase):
    """A test with :class:`CopFixture` up (``settings``) and the panel showing its 3 sensors."""

    settings: dict[str, object] = {"refresh_interval_s": 0.1}

    async def setUp(self) -> None:
        self.cop = CopFixture(**self.settings)
        await self.cop.set_up()
        await until(lambda: instance().panel.sensors.total == 3)
        await frames()

    async def tearDown(self) -> None:
        await self.cop.tear_down()
