"""The engine's live loop: wake on a hint or the poll interval, tick, back off while
storage is down.

Kit and ``coptwin run`` drive the engine with :func:`run` (``Engine.run``).  Reading
happens in worker threads, overlay writes on the loop's thread.  Hints (bucket
events, the panel, tests) go through :class:`Wakeup`, a flag and not a queue: any
number of hints while a tick runs cause exactly one more tick, for the tables they
named.  That flag is the one throttle for events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from typing import TYPE_CHECKING

from coptwin.events import EventHub, table_prefixes
from coptwin.scene.worker_stage import worker_stage_opener
from coptwin.storage import redact

if TYPE_CHECKING:  # the engine imports this module
    from coptwin.engine.engine import Engine

log = logging.getLogger(__name__)

#: Longest wait between retries while storage is unreachable.
MAX_BACKOFF_S = 30.0
#: Sleep when only the event hub wakes the engine (it polls, and falls back to polling).
HUB_WAIT_S = 3600.0


class Wakeup:
    """Thread-safe "check these tables" flag the loop sleeps on.

    :meth:`request` may be called from any thread; the tables named since the last
    :meth:`take` are checked by the next tick (``None``: every table).
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._tables: set[str] = set()
        self._all = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def request(self, table: str | None = None) -> None:
        with self._guard:
            if table is None:
                self._all = True
            else:
                self._tables.add(table)
            loop, event = self._loop, self._event
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(event.set)

    @property
    def requested(self) -> bool:
        with self._guard:
            return self._all or bool(self._tables)

    def take(self) -> set[str] | None:
        """The tables requested since the last call (``None``: all), clearing them."""
        with self._guard:
            tables = None if self._all else set(self._tables)
            self._all = False
            self._tables.clear()
        return tables

    def bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        with self._guard:
            self._loop = loop
            self._event = asyncio.Event() if loop is not None else None

    async def wait(self, stop: asyncio.Event, timeout: float) -> set[str] | None:
        """Sleep until a request, ``stop`` or the timeout; returns what to check
        (every table after a timeout)."""
        event = self._event
        assert event is not None, "Wakeup.bind(loop) first"
        if not self.requested:
            event.clear()
            if not self.requested:  # a request between the check and the clear
                waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(event.wait())}
                try:
                    await asyncio.wait(
                        waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:  # also when this task is cancelled: leave no waiter behind
                    for w in waiters:
                        w.cancel()
        tables = self.take()
        return tables or None


async def run(engine: Engine, stop: asyncio.Event | None = None) -> None:
    """Run ``engine`` until ``stop`` is set or the engine is closed.

    While storage is unreachable the status says why and retries back off
    exponentially (a hint still triggers an early retry); on recovery the watchers
    catch up from the last applied version, so nothing committed is missed.  A
    problem of the configuration itself (the scene, a CRS, a column mapping:
    :meth:`Engine.explain`) is raised as a ConfigError, since no retry can fix it.
    """
    stop = stop or asyncio.Event()
    wakeup = engine.wakeup
    wakeup.bind(asyncio.get_running_loop())
    hub_task = start_hub(engine, stop)
    backoff = 0.0
    tables: set[str] | None = None
    try:
        while not stop.is_set() and not engine.closed:
            try:
                if not engine.opened:
                    # The live stage is read on its own thread only; the worker reads a copy.
                    stage = engine.stage
                    reader = worker_stage_opener(stage) if stage is not None else None
                    engine.commit_open(await asyncio.to_thread(engine.prepare_open, reader))
                engine.commit(await asyncio.to_thread(engine.prepare, tables))
                backoff = 0.0
            except Exception as exc:  # storage down, credentials rejected, bad log ...
                engine.connection = "disconnected"
                fatal = engine.explain(exc, storage=False)
                if fatal is not None:  # the config is wrong: no retry fixes it
                    engine.reason = str(fatal)[:300]
                    log.debug("engine stopped: %s", engine.reason)
                    raise fatal from (None if fatal is exc else exc)
                backoff = min(max(backoff * 2, 0.5), MAX_BACKOFF_S)
                engine.reason = redact(f"{type(exc).__name__}: {exc}", engine.secrets)[:300]
                log.warning("engine disconnected (%s); retry in %.1fs", engine.reason, backoff)
            tables = await wakeup.wait(stop, backoff or poll_interval(engine))
            if backoff:
                tables = None  # a retry checks every table
    finally:
        if hub_task is not None:
            hub_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await hub_task
        wakeup.bind(None)


def poll_interval(engine: Engine) -> float:
    """Seconds until the next check when no hint comes (jittered)."""
    poll = engine.config.events.polling
    if engine.hub is not None or not poll.enabled:
        return HUB_WAIT_S
    return poll.interval_s * (1 + poll.jitter * (2 * random.random() - 1))


def start_hub(engine: Engine, stop: asyncio.Event) -> asyncio.Task | None:
    """Start the bucket-event sources the config enables (polling alone is this loop)."""
    cfg = engine.config.events
    sources = []
    if cfg.webhook.enabled:
        sources.append("webhook")
    if cfg.mqtt.enabled:
        sources.append("mqtt")
    if cfg.polling.enabled or not sources:
        sources.append("polling")
    engine.event_sources = tuple(sources)
    if not (cfg.webhook.enabled or cfg.mqtt.enabled):
        return None
    engine.hub = EventHub(
        engine.config,
        table_prefixes(engine.config),
        lambda hint: engine.request_check(hint.table),
    )
    return asyncio.ensure_future(engine.hub.run(stop))
