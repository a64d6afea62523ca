"""Polling: a hint per table every interval (with jitter), the source that always works.

The engine's answer to a hint is a cheap ``_delta_log`` listing, so polling
costs little and catches everything events miss.  It runs when configured, and
also as a fallback whenever a push source (MQTT) is down - even if polling is
disabled in the config.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable

from coptwin.events.hint import Hint, SourceStats

log = logging.getLogger(__name__)


class PollingSource:
    """Emits ``Hint(table, "polling")`` for every table each interval while active."""

    name = "polling"

    def __init__(
        self,
        tables: Iterable[str],
        interval_s: float,
        jitter: float,
        emit: Callable[[Hint], None],
        stats: SourceStats,
        *,
        enabled: bool = True,
    ) -> None:
        self.tables = tuple(tables)
        self.interval_s = interval_s
        self.jitter = min(max(jitter, 0.0), 0.9)
        self.emit = emit
        self.stats = stats
        self.enabled = enabled
        #: Reasons polling is forced on although not enabled (e.g. {"mqtt": "..."}).
        self.fallback_for: dict[str, str] = {}
        self._wake = asyncio.Event()

    @property
    def active(self) -> bool:
        return self.enabled or bool(self.fallback_for)

    @property
    def state(self) -> str:
        if self.enabled:
            return "active"
        if self.fallback_for:
            return "active (fallback: " + ", ".join(sorted(self.fallback_for)) + " down)"
        return "standby"

    def set_fallback(self, source: str, down: bool) -> None:
        """A push source went down (polling takes over) or came back."""
        was = self.active
        if down:
            self.fallback_for[source] = "down"
        else:
            self.fallback_for.pop(source, None)
        if self.active and not was:
            log.info("polling takes over while %s is down", source)
            self._wake.set()

    def _delay(self) -> float:
        return self.interval_s * (1.0 + random.uniform(-self.jitter, self.jitter))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.active:
                for table in self.tables:
                    self.stats.add(self.name, "hints")
                    self.emit(Hint(table, self.name, None))
            self._wake.clear()
            waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
            try:
                await asyncio.wait(waiters, timeout=self._delay(), return_when="FIRST_COMPLETED")
            finally:
                for w in waiters:
                    w.cancel()
