"""From an event body to hints: parse, route keys to tables, count it all.

Shared by the webhook receiver and the MQTT subscriber so both treat the same
payload the same way.  A record delivered twice (by both, or by a retrying
sender) makes a second hint: the engine's wake-up flag folds it into the tick
already due, or it costs one cheap log listing that finds nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from coptwin.events.hint import Hint, SourceStats
from coptwin.events.payloads import MalformedEvent, parse_event_body
from coptwin.events.routing import TableRouter

log = logging.getLogger(__name__)


class EventIntake:
    """Turns bodies into hints for ``emit``; never raises for bad input (counts it)."""

    def __init__(
        self,
        router: TableRouter,
        stats: SourceStats,
        emit: Callable[[Hint], None],
    ) -> None:
        self.router = router
        self.stats = stats
        self.emit = emit

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
