"""EventHub: runs the configured event sources and hands their hints to the engine.

Sources (several at once): polling, webhook receiver, MQTT subscriber.  Every
valid hint goes to ``on_hint`` at once; bursts need no throttle here because the
engine's wake-up flag folds every hint that arrives during a tick into one more
tick (see ``coptwin.engine.loop``).  When MQTT is not connected,
polling runs even if it is disabled in the config, and when MQTT comes back a
catch-up hint per table covers anything published while it was away.

``on_hint`` is called on the hub's asyncio loop and must not block (queue the
table, e.g. ``engine.request_check``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from coptwin.config import Config
from coptwin.events.hint import Hint, SourceStats
from coptwin.events.intake import EventIntake
from coptwin.events.mqtt import MqttSource
from coptwin.events.polling import PollingSource
from coptwin.events.routing import TableRouter, event_bucket
from coptwin.events.webhook import WebhookReceiver

log = logging.getLogger(__name__)


class EventHub:
    """``EventHub(config, table_prefixes, on_hint)``; ``await hub.run(stop)``."""

    def __init__(
        self,
        config: Config,
        table_prefixes: dict[str, str],
        on_hint: Callable[[Hint], None],
        tables: list[str] | None = None,
    ) -> None:
        self.config = config
        self.on_hint = on_hint
        self.stats_ = SourceStats()
        self.router = TableRouter(table_prefixes, event_bucket(config))
        #: Tables polling checks (all configured tables, S3 or local).
        self.tables = tables or [
            t for t in ("readings", "sensors", "annotations") if getattr(config.tables, t)
        ]
        self.polling: PollingSource | None = None
        self.webhook: WebhookReceiver | None = None
        self.mqtt: MqttSource | None = None
        self._states: dict[str, str] = {}
        self._ready = asyncio.Event()
        self._intake = EventIntake(self.router, self.stats_, self._emit)

    # -- what the engine and the UI read ------------------------------------------------------
    @property
    def stats(self) -> dict[str, dict[str, int]]:
        """``{source: {received, hints, malformed, foreign, ignored}}``."""
        return self.stats_.as_dict()

    @property
    def source_states(self) -> dict[str, str]:
        states = dict(self._states)
        if self.webhook is not None:
            states["webhook"] = self.webhook.state
        if self.mqtt is not None:
            states["mqtt"] = self.mqtt.state
        if self.polling is not None:
            states["polling"] = self.polling.state
        return states

    @property
    def webhook_port(self) -> int | None:
        """The port the receiver is bound to (useful with ``port = 0``)."""
        return self.webhook.port if self.webhook is not None else None

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until every source is started (the webhook is bound)."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    # -- plumbing ------------------------------------------------------------------------------
    def _emit(self, hint: Hint) -> None:
        try:
            self.on_hint(hint)
        except Exception:  # the engine's problem must not kill the event sources
            log.exception("on_hint failed for %s", hint)

    def _mqtt_state(self, up: bool, text: str) -> None:
        if self.polling is None:
            return
        was_down = "mqtt" in self.polling.fallback_for
        self.polling.set_fallback("mqtt", down=not up)
        if up and was_down:
            log.info("mqtt back (%s); catching up", text)
            for table in self.tables:
                self._emit(Hint(table, "mqtt", None))
        elif not up:
            log.warning("mqtt %s; polling covers until it reconnects", text)

    async def run(self, stop: asyncio.Event) -> None:
        """Run all sources until ``stop`` is set; sources are stopped on the way out."""
        ev = self.config.events
        loop = asyncio.get_running_loop()
        self.polling = PollingSource(
            self.tables,
            ev.polling.interval_s,
            ev.polling.jitter,
            self._emit,
            self.stats_,
            enabled=ev.polling.enabled,
        )
        try:
            if ev.webhook.enabled:
                self.webhook = WebhookReceiver(
                    ev.webhook, lambda body: self._intake.handle("webhook", body)
                )
                await self.webhook.start()
            if ev.mqtt.enabled:
                self.polling.set_fallback("mqtt", down=True)  # until the first subscribe
                self.mqtt = MqttSource(
                    ev.mqtt, loop, lambda body: self._intake.handle("mqtt", body), self._mqtt_state
                )
                self.mqtt.start()
            self._ready.set()
            log.info("event sources: %s", self.source_states)
            await self.polling.run(stop)
        finally:
            if self.mqtt is not None:
                await asyncio.to_thread(self.mqtt.stop)
            if self.webhook is not None:
                await self.webhook.close()
            self._ready.clear()
