"""From an event body to hints: parse, drop re-deliveries, route keys to tables, count it all.

Shared by the webhook receiver and the MQTT subscriber so both treat the same
payload the same way, and a record delivered by both (or re-delivered by a
retrying sender) is counted once as a duplicate.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

from coptwin.events.hint import Hint, SourceStats
from coptwin.events.payloads import MalformedEvent, parse_event_body
from coptwin.events.routing import TableRouter

log = logging.getLogger(__name__)


class RecentIds:
    """Bounded memory of recently seen event ids (LRU)."""

    def __init__(self, size: int = 4096) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def seen(self, event_id: str) -> bool:
        """True when ``event_id`` was seen before; remembers it either way."""
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return True
        self._ids[event_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return False


class EventIntake:
    """Turns bodies into hints for ``emit``; never raises for bad input (counts it)."""

    def __init__(
        self,
        router: TableRouter,
        stats: SourceStats,
        emit: Callable[[Hint], None],
        recent: RecentIds | None = None,
    ) -> None:
        self.router = router
        self.stats = stats
        self.emit = emit
        self.recent = recent or RecentIds()

    def handle(self, source: str, body: bytes) -> bool:
        """Process one body from ``source``; False when it was malformed (caller answers 400)."""
        self.stats.add(source, "received")
        try:
            parsed = parse_event_body(body)
        except MalformedEvent as exc:
            self.stats.add(source, "malformed")
            log.warning("%s: skipped malformed event (%s, %d bytes)", source, exc, len(body))
            return False
        if parsed.subscribe_url:
            log.warning(
                "%s: SNS subscription confirmation received; confirm it once by opening %s",
                source,
                repr(parsed.subscribe_url)[1:-1],  # escaped: no forged log lines
            )
        if parsed.ignored:
            self.stats.add(source, "ignored", parsed.ignored)
        tables: dict[str, str] = {}
        for ev in parsed.events:
            if self.recent.seen(ev.event_id):
                self.stats.add(source, "duplicate")
                continue
            table, why = self.router.route(ev.bucket, ev.key)
            if table is None:
                self.stats.add(source, why)
                log.debug("%s: %s event for %s/%s", source, why, ev.bucket, ev.key)
                continue
            tables.setdefault(table, ev.key)
        for table, key in tables.items():
            self.stats.add(source, "hints")
            self.emit(Hint(table, source, key))
        return True
