"""EventHub: runs the configured event sources and hands their hints to the engine.

Sources (several at once): polling, webhook receiver, MQTT subscriber.  Every
valid hint goes to ``on_hint`` at once; bursts need no throttle here because the
engine's wake-up flag folds every hint that arrives during a tick into one more
tick (see ``coptwin.engine.loop``).

A source that fails never silently stops updates: whenever a push source is not
working (the webhook cannot listen or has no token, MQTT is disconnected),
polling runs at its configured interval even if it is disabled in the config,
the failure is logged once and listed in :attr:`EventHub.problems` (the status
line shows it).  A webhook port held by another server (often our own previous
receiver, still closing) is retried with backoff until it is free; when MQTT
comes back a catch-up hint per table covers anything published while it was away.

The webhook listens on a server of its own unless ``mount_webhook`` is set:
then a web server (``coptwin serve``) mounts :attr:`EventHub.webhook_endpoint`'s
route on its own port.

``on_hint`` is called on the hub's asyncio loop and must not block (queue the
table, e.g. ``engine.request_check``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from coptwin.config import Config, ConfigError
from coptwin.events.hint import Hint, SourceStats
from coptwin.events.intake import EventIntake
from coptwin.events.mqtt import MqttSource
from coptwin.events.polling import PollingSource
from coptwin.events.routing import TableRouter, event_bucket
from coptwin.events.webhook import PortInUse, WebhookEndpoint, WebhookReceiver

log = logging.getLogger(__name__)

#: Retry delays for a webhook port in use: first retry, longest wait.
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 30.0


class EventHub:
    """``EventHub(config, table_prefixes, on_hint)``; ``await hub.run(stop)``."""

    def __init__(
        self,
        config: Config,
        table_prefixes: dict[str, str],
        on_hint: Callable[[Hint], None],
        tables: list[str] | None = None,
        *,
        mount_webhook: bool = False,
    ) -> None:
        self.config = config
        self.on_hint = on_hint
        self.table_prefixes = table_prefixes
        self.mount_webhook = mount_webhook
        self.stats_ = SourceStats()
        #: Tables polling checks (all configured tables, S3 or local).
        self.tables = tables or [
            t for t in ("readings", "sensors", "annotations") if getattr(config.tables, t)
        ]
        self.polling: PollingSource | None = None
        self.webhook: WebhookReceiver | None = None
        #: The webhook route (for a web server to mount when ``mount_webhook``).
        self.webhook_endpoint: WebhookEndpoint | None = None
        self.mqtt: MqttSource | None = None
        #: True once :meth:`run` has ended (stopped, or failed: see :attr:`problems`).
        self.stopped = False
        self._problems: dict[str, str] = {}
        self._ready = asyncio.Event()
        self._intake: EventIntake | None = None
        self._tasks: list[asyncio.Task] = []

    # -- what the engine and the UI read ------------------------------------------------------
    @property
    def stats(self) -> dict[str, dict[str, int]]:
        """``{source: {received, hints, malformed, foreign, ignored}}``."""
        return self.stats_.as_dict()

    @property
    def source_states(self) -> dict[str, str]:
        states = {}
        if self.webhook is not None:
            states["webhook"] = self.webhook.state
        elif self.webhook_endpoint is not None:
            states["webhook"] = f"mounted at {self.webhook_endpoint.path}"
        if self.mqtt is not None:
            states["mqtt"] = self.mqtt.state
        if self.polling is not None:
            states["polling"] = self.polling.state
        for source, why in list(self._problems.items()):
            states.setdefault(source, f"failed: {why}")
        return states

    @property
    def problems(self) -> tuple[str, ...]:
        """One line per source that is not working, with what covers for it."""
        found = dict(self._problems)
        if self.mqtt is not None and self.mqtt.state.startswith("disconnected"):
            found["mqtt"] = self.mqtt.state
        if not found:
            return ()
        every = f"polling every {self.config.events.polling.interval_s:g} s covers"
        return tuple(f"{source}: {why}; {every}" for source, why in found.items())

    @property
    def webhook_port(self) -> int | None:
        """The port the receiver is bound to (useful with ``port = 0``)."""
        return self.webhook.port if self.webhook is not None else None

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until every source has started (the webhook is bound) or failed."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    # -- plumbing ------------------------------------------------------------------------------
    def _emit(self, hint: Hint) -> None:
        try:
            self.on_hint(hint)
        except Exception:  # the engine's problem must not kill the event sources
            log.exception("on_hint failed for %s", hint)

    def _handle(self, source: str) -> Callable[[bytes], bool]:
        intake = self._intake
        assert intake is not None
        return lambda body: intake.handle(source, body)

    def _failed(self, source: str, why: str) -> None:
        """A source does not work: say so once and let polling cover."""
        if self._problems.get(source) != why:
            every = self.config.events.polling.interval_s
            log.error("%s: %s; polling every %g s covers", source, why, every)
        self._problems[source] = why
        if self.polling is not None:
            self.polling.set_fallback(source, down=True)

    def _recovered(self, source: str) -> None:
        if self._problems.pop(source, None) is not None:
            log.info("%s works again", source)
        if self.polling is not None:
            self.polling.set_fallback(source, down=False)

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

    async def _start_webhook(self, stop: asyncio.Event) -> None:
        cfg = self.config.events.webhook
        try:
            if self.mount_webhook:  # a web server mounts the route on its own port
                self.webhook_endpoint = WebhookEndpoint(cfg, self._handle("webhook"))
                return
            self.webhook = WebhookReceiver(cfg, self._handle("webhook"))
        except ConfigError as exc:  # the token variable is unset
            self._failed("webhook", str(exc))
            return
        self.webhook_endpoint = self.webhook.endpoint
        try:
            await self.webhook.start()
        except PortInUse as exc:
            self._failed("webhook", f"{exc}, retrying")
            self._tasks.append(asyncio.ensure_future(self._retry_webhook(stop)))
        except ConfigError as exc:  # an address this machine cannot bind
            self._failed("webhook", str(exc))

    async def _retry_webhook(self, stop: asyncio.Event) -> None:
        """Bind the port once it is free (the previous receiver may still be closing)."""
        assert self.webhook is not None
        delay = RETRY_FIRST_S
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
            try:
                await self.webhook.start()
            except PortInUse:
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            except ConfigError as exc:
                self._failed("webhook", str(exc))
                return
            self._recovered("webhook")
            return

    async def run(self, stop: asyncio.Event) -> None:
        """Run all sources until ``stop`` is set; sources are stopped on the way out.

        A failure of the hub itself is recorded in :attr:`problems` before it is
        raised, so whoever runs the hub can fall back to polling and say why.
        """
        ev = self.config.events
        loop = asyncio.get_running_loop()
        try:
            router = TableRouter(self.table_prefixes, event_bucket(self.config))
            self._intake = EventIntake(router, self.stats_, self._emit)
            self.polling = PollingSource(
                self.tables,
                ev.polling.interval_s,
                ev.polling.jitter,
                self._emit,
                self.stats_,
                enabled=ev.polling.enabled,
            )
            if ev.webhook.enabled:
                await self._start_webhook(stop)
            if ev.mqtt.enabled:
                self.polling.set_fallback("mqtt", down=True)  # until the first subscribe
                self.mqtt = MqttSource(ev.mqtt, loop, self._handle("mqtt"), self._mqtt_state)
                self.mqtt.start()
            self._ready.set()
            log.info("event sources: %s", self.source_states)
            await self.polling.run(stop)
        except Exception as exc:
            self._problems["events"] = f"event sources stopped ({type(exc).__name__}: {exc})"
            raise
        finally:
            self.stopped = True
            self._ready.set()
            for task in self._tasks:
                task.cancel()
            if self.mqtt is not None:
                await asyncio.to_thread(self.mqtt.stop)
            if self.webhook is not None:
                await self.webhook.close()
