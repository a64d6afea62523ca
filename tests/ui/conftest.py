"""Shared builders for the view-model tests: real EngineSnapshot objects."""

from __future__ import annotations

import importlib.util
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from coptwin.engine.snapshot import EngineSnapshot, EngineStatus, LayerRow, SensorRow
from tests.support.wait import until

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


def sensor(
    sensor_id: str,
    *,
    name: str = "",
    kind: str = "temperature",
    layer: str = "environment",
    status: str = "ok",
    value: float | None = 20.0,
    unit: str = "°C",
    age_s: float | None = 10.0,
    marker: bool = True,
    bound_prim: str = "",
    reason: str = "",
) -> SensorRow:
    return SensorRow(
        sensor_id=sensor_id,
        name=name or sensor_id.upper(),
        kind=kind,
        layer=layer,
        status=status,
        value=value,
        unit=unit,
        quantity="temperature" if kind == "temperature" else kind,
        ts=None if age_s is None else NOW - timedelta(seconds=age_s),
        marker_path=f"/COP/Markers/{sensor_id}" if marker else "",
        bound_prim=bound_prim,
        reason=reason,
    )


@pytest.fixture
def city_rows() -> tuple[SensorRow, ...]:
    """Six sensors over two layers, with every awkward case the table must handle."""
    return (
        sensor("t1", name="Tower roof", status="ok", value=21.5, age_s=5),
        sensor(
            "t2",
            name="Harbour",
            status="alarm",
            value=41.0,
            age_s=30,
            reason="value 41 °C above alarm_high 35",
        ),
        sensor("t3", name="park", status="warn", value=None, age_s=None),
        sensor(
            "m1",
            name="Gate motion",
            kind="motion",
            layer="security",
            status="alarm",
            value=1.0,
            unit="",
            age_s=2,
            bound_prim="/World/Buildings/B7",
        ),
        sensor(
            "m2",
            name="Lobby motion",
            kind="motion",
            layer="security",
            status="ok",
            value=0.0,
            unit="",
            age_s=3600,
            bound_prim="/World/Buildings/B7",
        ),
        sensor(
            "w1",
            name="Water level",
            kind="water_level",
            status="stale",
            value=float("nan"),
            unit="m",
            age_s=7200,
            marker=False,
            bound_prim="/World/Buildings/B9",
        ),
    )


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def make_sensor():
    return sensor


@pytest.fixture
def make_snapshot():
    return snapshot_of


def snapshot_of(rows, *, status: EngineStatus | None = None, hidden=()) -> EngineSnapshot:
    layers: dict[str, dict[str, int]] = {}
    for r in rows:
        layers.setdefault(r.layer, {}).setdefault(r.status, 0)
        layers[r.layer][r.status] += 1
    return EngineSnapshot(
        status=status or EngineStatus(connection="connected", last_update=NOW),
        layers=tuple(
            LayerRow(name, name.title(), name not in hidden, counts)
            for name, counts in sorted(layers.items())
        ),
        sensors=tuple(rows),
        now=NOW,
    )


def _kit_test_data() -> types.ModuleType:
    """The tiny city + Delta tables helper of the Kit tests (pure pxr + polars)."""
    path = Path(__file__).resolve().parents[2] / "exts/coptwin/coptwin/kit/tests/_data.py"
    spec = importlib.util.spec_from_file_location("coptwin_tests_ui_data", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def cop_config(tmp_path: Path) -> Path:
    """A coptwin config over real local Delta tables and a tiny city (USDA)."""
    return _kit_test_data().write_cop(tmp_path / "cop")


@pytest.fixture
def city(cop_config: Path):
    from pxr import Usd

    return Usd.Stage.Open(str(cop_config.parent / "city.usda"))


@pytest.fixture
def start_session():
    """``await start_session(cop_config, city)``: a running EngineSession whose engine
    has drawn the tiny COP's three sensors and applied their readings (bounded wait)."""
    from coptwin.ui.session import EngineSession

    async def start(cop_config: Path, city) -> EngineSession:
        session = EngineSession()
        assert session.start(cop_config, city), session.error

        def ready() -> bool:
            snap = session.engine.snapshot()
            rows = snap.sensors
            applied = len(rows) == 3 and all(r.ts is not None for r in rows)
            return applied and snap.status.connection == "connected"

        await until(ready, 30, what="the engine to apply the readings")
        return session

    return start
