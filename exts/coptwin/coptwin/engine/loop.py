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


async def run(
    engine: Engine, stop: asyncio.Event | None = None, *, mount_webhook: bool = False
) -> None:
    """Run ``engine`` until ``stop`` is set or the engine is closed.

    While storage is unreachable the status says why and retries back off
    exponentially (a hint still triggers an early retry); on recovery the watchers
    catch up from the last applied version, so nothing committed is missed.  A
    problem of the configuration itself (the scene, a CRS, a column mapping:
    :meth:`Engine.explain`) is raised as a ConfigError, since no retry can fix it.
    ``mount_webhook``: a web server mounts the webhook route (``coptwin serve``),
    the hub opens no server of its own.
    """
    stop = stop or asyncio.Event()
    wakeup = engine.wakeup
    wakeup.bind(asyncio.get_running_loop())
    hub_task = start_hub(engine, stop, mount_webhook=mount_webhook)
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
                await hub_task  # the hub awaits its receiver's close: the port is free after
        wakeup.bind(None)


def poll_interval(engine: Engine) -> float:
    """Seconds until the next check when no hint comes (jittered), or until an alarm
    delay, shelving or escalation falls due.

    A running event hub polls by itself (and whenever a push source is down);
    without one, or once it has stopped, this loop polls at the configured interval.
    """
    hub = engine.hub
    if hub is not None and not hub.stopped:
        wait = HUB_WAIT_S
    else:
        poll = engine.config.events.polling
        wait = poll.interval_s * (1 + poll.jitter * (2 * random.random() - 1))
    due = engine.alarms.due_in(engine.clock()) if engine.alarms is not None else None
    return wait if due is None else min(wait, due)


def start_hub(
    engine: Engine, stop: asyncio.Event, *, mount_webhook: bool = False
) -> asyncio.Task | None:
    """Start the bucket-event sources the config enables (polling alone is this loop).

    The hub's end is watched: if it fails, it has recorded why (its ``problems``
    reach the status line), and this loop is woken to poll in its place.
    """
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
    hub = engine.hub = EventHub(
        engine.config,
        table_prefixes(engine.config),
        lambda hint: engine.request_check(hint.table),
        mount_webhook=mount_webhook,
    )
    task = asyncio.ensure_future(hub.run(stop))

    def ended(task: asyncio.Task) -> None:
        if stop.is_set() or task.cancelled():
            return
        exc = task.exception()
        log.error(
            "event sources stopped (%s); polling every %g s instead",
            f"{type(exc).__name__}: {exc}" if exc else "ended",
            cfg.polling.interval_s,
        )
        engine.request_check()  # wake the loop: it polls from now on

    task.add_done_callback(ended)
    return task
