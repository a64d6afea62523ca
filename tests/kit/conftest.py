"""Fixtures for the Kit-side pytest tests: the omni/carb STAND-IN and local COP data.

``kit`` puts the stand-in modules from ``standin/kit_standin.py`` into
``sys.modules`` for one test and takes them (and every ``coptwin.kit``
module imported against them) out again afterwards, so no other test ever
sees a fake ``omni``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

STANDIN = Path(__file__).parent / "standin" / "kit_standin.py"
EXT_ID = "coptwin-0.1.0"


def _load_standin() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("coptwin_tests_kit_standin", STANDIN)
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

    def import_kit(self) -> types.ModuleType:
        return importlib.import_module("coptwin.kit")

    def settings(self, **values) -> None:
        for key, value in values.items():
            self.world.settings[f"/exts/coptwin/{key}"] = value


@pytest.fixture
def kit(request) -> Iterator[Kit]:
    modern = getattr(request, "param", "modern-events") == "modern-events"
    standin = _load_standin()
    world = standin.World(modern_events=modern)
    saved = _drop(("omni", "carb", "coptwin.kit"))
    sys.modules.update(standin.build(world))
    try:
        yield Kit(standin, world)
    finally:
        _drop(("omni", "carb", "coptwin.kit"))
        sys.modules.update(saved)


def _kit_test_data() -> types.ModuleType:
    """The Kit tests' data helper (pure pxr + polars), loaded by path: same data both ways."""
    path = Path(__file__).resolve().parents[2] / "exts/coptwin/coptwin/kit/tests/_data.py"
    spec = importlib.util.spec_from_file_location("coptwin_tests_kit_data", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def cop_tables(tmp_path: Path) -> Path:
    """A coptwin config over real local Delta tables (deltalake via polars) and a tiny city."""
    return _kit_test_data().write_cop(tmp_path / "cop")


@pytest.fixture
def city_stage(cop_tables: Path):
    """The tiny city of ``cop_tables`` opened as a real usd-core stage."""
    from pxr import Usd

    return Usd.Stage.Open(str(cop_tables.parent / "city.usda"))
