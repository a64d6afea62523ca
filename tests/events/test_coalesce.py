"""Bursts collapse to one immediate and one trailing hint per table."""

from __future__ import annotations

import asyncio

from coptwin.events.coalesce import Coalescer
from coptwin.events.hint import Hint


def test_burst_gives_leading_and_trailing_hint_per_table():
    async def main():
        out: list[Hint] = []
        c = Coalescer(0.05, out.append)
        for i in range(10):
            c.push(Hint("readings", "webhook", f"k{i}"))
        c.push(Hint("sensors", "webhook", "s"))
        assert [h.key for h in out] == ["k0", "s"]  # leading edges pass at once
        await asyncio.sleep(0.2)
        c.close()
        return out, c.merged

    out, merged = asyncio.run(main())
    assert [h.key for h in out] == ["k0", "s", "k9"]
    assert merged == 8


def test_single_hint_has_no_trailing_duplicate_and_zero_window_passes_everything():
    async def main():
        out: list[Hint] = []
        c = Coalescer(0.02, out.append)
        c.push(Hint("readings", "polling"))
        await asyncio.sleep(0.1)
        c.push(Hint("readings", "polling"))  # window closed: passes at once again
        c.close()
        raw: list[Hint] = []
        z = Coalescer(0, raw.append)
        for _ in range(3):
            z.push(Hint("readings", "polling"))
        return out, raw

    out, raw = asyncio.run(main())
    assert len(out) == 2 and len(raw) == 3
