"""Fixtures for the Kit-side pytest tests: the omni/carb STAND-IN and local COP data.

``kit`` puts the stand-in modules from ``standin/kit_standin.py`` into
``sys.modules`` for one test, installs its pxr and asyncio guards, and takes
everything out again afterwards (restoring every ``coptwin`` module the test
may have purged), so no other test ever sees a fake ``omni``.  A test that
touched the live stage off the main thread fails at teardown with what it did.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

STANDIN = Path(__file__).parent / "standin" / "kit_standin.py"
KIT_TESTS = Path(__file__).resolve().parents[2] / "exts/coptwin/coptwin/kit/tests"
EXT_ID = "coptwin-0.1.0"


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _drop(prefixes: tuple[str, ...]) -> dict[str, types.ModuleType]:
    gone = {}
    for name in list(sys.modules):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            gone[name] = sys.modules.pop(name)
    return gone


@dataclass
class Kit:
    """Handle on the stand-in: its world (what is alive) and helpers."""

    standin: types.ModuleType
    world: object
    ext_id: str = EXT_ID

    @property
    def context(self):
        return self.world.context

    @property
    def viewport(self):
        return self.world.viewport

    @property
    def manager(self):
        return self.world.manager

    def import_kit(self) -> types.ModuleType:
        return importlib.import_module("coptwin.kit")

    def settings(self, **values) -> None:
        for key, value in values.items():
            self.world.settings[f"/exts/coptwin/{key}"] = value

    def kit_test(self, name: str) -> types.ModuleType:
        """A helper module of the Kit tests (``_ui``, ``_data``), loaded against the stand-in."""
        return kit_test_module(name)

    def frame(self, n: int = 1) -> None:
        """Run ``n`` Kit updates now (events, then UI builds)."""
        for _ in range(n):
            self.world.frame()

    async def frames(self, n: int = 2) -> None:
        await self.world.frames_async(n)

    async def until(self, ready: Callable[[], bool], what: str, frames: int = 400) -> None:
        """Run frames (and let the loop breathe) until ``ready()``; bounded."""
        for _ in range(frames):
            if ready():
                return
            await asyncio.sleep(0.01)
            self.world.frame()
        assert ready(), f"timed out waiting for {what}"


@pytest.fixture
def kit(request) -> Iterator[Kit]:
    modern = getattr(request, "param", "modern-events") == "modern-events"
    standin = _load("coptwin_tests_kit_standin", STANDIN)
    world = standin.World(modern_events=modern)
    core = {n: m for n, m in sys.modules.items() if n == "coptwin" or n.startswith("coptwin.")}
    saved = _drop(("omni", "carb", "coptwin.kit"))
    guard, ports = standin.StageGuard(), standin.LingeringPorts()
    sys.modules.update(standin.build(world))
    guard.install()
    ports.install()
    try:
        yield Kit(standin, world)
    finally:
        ports.remove()
        guard.remove()
        world.release()
        _drop(("omni", "carb", "coptwin"))
        sys.modules.update(core)
        sys.modules.update(saved)
    assert world.violations == [], "\n".join(world.violations)


def kit_test_module(name: str) -> types.ModuleType:
    """A helper module of the Kit tests (pure pxr/polars/omni.ui attributes), by path."""
    return _load(f"coptwin_tests_kit_{name}", KIT_TESTS / f"{name}.py")


@pytest.fixture
def cop_tables(tmp_path: Path) -> Path:
    """A coptwin config over real local Delta tables (deltalake via polars) and a tiny city."""
    return kit_test_module("_data").write_cop(tmp_path / "cop")


@pytest.fixture
def city_stage(cop_tables: Path):
    """The tiny city of ``cop_tables`` opened as a real usd-core stage."""
    from pxr import Usd

    return Usd.Stage.Open(str(cop_tables.parent / "city.usda"))
