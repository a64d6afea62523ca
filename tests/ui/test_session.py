"""EngineSession with the real Engine over local Delta tables and a real USD stage."""

from __future__ import annotations

import asyncio

from coptwin.ui.session import EngineSession
from tests.support.wait import until


def test_start_runs_one_engine_and_stop_detaches_its_overlay(cop_config, city):
    session_layer = city.GetSessionLayer()

    async def scenario():
        session = EngineSession()
        assert session.start(cop_config, city), session.error
        first = session.engine
        assert session.running
        # The run loop opens the engine (reads in a worker, overlay on this thread).
        await until(lambda: len(session.engine.snapshot().sensors) == 3)
        assert len(session_layer.subLayerPaths) == 1
        assert session.start(cop_config, city)  # restart: the old engine is gone first
        assert session.engine is not first and len(session_layer.subLayerPaths) == 0
        await until(lambda: len(session_layer.subLayerPaths) == 1)
        await session.stop_async()
        assert session.engine is None and not session.running
        assert len(session_layer.subLayerPaths) == 0
        session.stop()  # idempotent
        await asyncio.sleep(0)
        return len(asyncio.all_tasks())

    assert asyncio.run(scenario()) == 1  # only the scenario itself is left


def test_failures_are_reported_not_raised(cop_config, city, tmp_path):
    async def scenario():
        session = EngineSession()
        generation = session.generation
        assert not session.start(None, city)
        assert session.error.startswith("no configuration")
        assert not session.start(cop_config, None)
        assert session.error == "no stage is open"
        assert not session.start(tmp_path / "nope.toml", city)
        assert "cannot read config file" in session.error
        assert session.generation == generation + 3 and session.engine is None

        def broken(config, stage):
            raise RuntimeError("core not installed")

        assert not EngineSession(broken).start(cop_config, city)

    asyncio.run(scenario())


def test_engine_that_dies_keeps_its_picture_and_says_why(cop_config, city):
    from coptwin.engine.engine import Engine

    class Dying(Engine):
        """The real engine whose run loop fails at once (e.g. a bug in a rule)."""

        async def run(self, stop=None):
            raise ValueError("rule exploded")

    async def scenario():
        session = EngineSession(lambda cfg, stage: Dying(cfg, stage))
        assert session.start(cop_config, city)
        generation = session.generation
        await until(lambda: not session.running)
        assert session.error == "engine stopped: ValueError: rule exploded"
        assert session.generation == generation + 1
        assert session.engine is not None  # the overlay stays until stop()
        session.stop()
        assert len(city.GetSessionLayer().subLayerPaths) == 0

    asyncio.run(scenario())
