"""Polling hints every table each interval while enabled or standing in for a down source."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from coptwin.events.hint import SourceStats
from coptwin.events.polling import PollingSource
from tests.support.wait import until


def run_until(src: PollingSource, done: Callable[[], bool]) -> None:
    """Run the source until ``done()`` (bounded)."""

    async def main():
        stop = asyncio.Event()
        task = asyncio.create_task(src.run(stop))
        try:
            await until(done, 10, what="the polling hints")
        finally:
            stop.set()
            await task

    asyncio.run(main())


def run_for(src: PollingSource, seconds: float) -> None:
    """Run the source for a while: only to show that nothing happens (absence needs a
    window; it spans five polling intervals here)."""

    async def main():
        stop = asyncio.Event()
        task = asyncio.create_task(src.run(stop))
        await asyncio.sleep(seconds)
        stop.set()
        await task

    asyncio.run(main())


def test_enabled_polling_hints_each_table_repeatedly():
    hints = []
    src = PollingSource(["readings", "sensors"], 0.02, 0.5, hints.append, SourceStats())
    run_until(src, lambda: sum(h.table == "readings" for h in hints) >= 2)
    assert {h.table for h in hints} == {"readings", "sensors"}
    assert all(h.source == "polling" for h in hints)
    assert src.state == "active"


def test_disabled_polling_stays_quiet_until_a_fallback_is_needed():
    hints = []
    src = PollingSource(["readings"], 0.02, 0.0, hints.append, SourceStats(), enabled=False)
    run_for(src, 0.1)
    assert hints == [] and src.state == "standby"
    src.set_fallback("mqtt", down=True)
    assert src.state == "active (fallback: mqtt down)"
    run_until(src, lambda: bool(hints))
    src.set_fallback("mqtt", down=False)
    n = len(hints)
    run_for(src, 0.1)
    assert len(hints) == n and src.state == "standby"
