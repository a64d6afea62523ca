"""Merge bursts of hints per table: one check now, at most one more when the burst ends.

A Delta commit makes several storage events (data files, then the log entry),
and a simulator may commit many times a second.  The first hint for a table
passes at once (low latency); further hints within ``window_s`` are folded
into a single trailing hint at the window's end, so the last change of a burst
is never missed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from coptwin.events.hint import Hint

log = logging.getLogger(__name__)


class Coalescer:
    """Leading + trailing throttle per table; runs on one asyncio loop."""

    def __init__(self, window_s: float, emit: Callable[[Hint], None]) -> None:
        self.window_s = max(0.0, window_s)
        self.emit = emit
        self._open: dict[str, asyncio.TimerHandle] = {}
        self._pending: dict[str, Hint] = {}
        self.merged = 0

    def push(self, hint: Hint) -> None:
        """Call on the loop thread."""
        if self.window_s == 0:
            self.emit(hint)
            return
        if hint.table in self._open:
            if hint.table in self._pending:
                self.merged += 1
            self._pending[hint.table] = hint
            return
        self._start_window(hint.table)
        self.emit(hint)

    def _start_window(self, table: str) -> None:
        loop = asyncio.get_running_loop()
        self._open[table] = loop.call_later(self.window_s, self._close_window, table)

    def _close_window(self, table: str) -> None:
        self._open.pop(table, None)
        hint = self._pending.pop(table, None)
        if hint is not None:
            # The trailing hint opens a new window, so a steady stream is checked
            # once per window rather than once per event.
            self._start_window(table)
            self.emit(hint)

    def close(self) -> None:
        for handle in self._open.values():
            handle.cancel()
        self._open.clear()
        self._pending.clear()
