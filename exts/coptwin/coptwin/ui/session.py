"""One engine bound to one stage, started and stopped as stages open and close.

The Kit extension (and tests) drive this object: ``start`` loads the config,
builds the engine on the given stage, opens it and runs it as an asyncio task
on the current loop (Kit's, inside Omniverse); ``stop`` ends the task, closes
the engine and so detaches its overlay.  Both are idempotent, so enabling,
disabling and re-enabling the extension — or reopening stages — never leaves
a second task or a second overlay layer behind.

The engine's event sources run inside that task, on the same loop: the webhook
receiver (``coptwin.events.webhook``, on Kit's bundled aiohttp) listens there, and
stopping the task awaits the receiver's close.  An engine started before the old
receiver has let go of its port retries the port and polls meanwhile (issue 11.6).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ..config import Config, ConfigError, load_config
from ..storage import redact, resolve_credentials
from .panel import EngineLike

log = logging.getLogger(__name__)


class RunnableEngine(EngineLike, Protocol):
    """What the session needs on top of the panel's view of the engine."""

    def open(self) -> None: ...

    async def run(self, stop: asyncio.Event) -> None: ...

    def close(self) -> None: ...


EngineFactory = Callable[[Config, Any], RunnableEngine]


def default_engine_factory(config: Config, stage: Any) -> RunnableEngine:
    """The real engine (imported late so a broken core shows as a status, not an import error)."""
    from ..engine.alarms import sends_notifications
    from ..engine.engine import Engine

    return Engine(config, stage, notify=sends_notifications(config, "kit"))


class EngineSession:
    """Owns at most one running engine; ``generation`` bumps on every change."""

    def __init__(self, engine_factory: EngineFactory | None = None) -> None:
        self._factory = engine_factory or default_engine_factory
        self.engine: RunnableEngine | None = None
        self.config: Config | None = None
        self.error = ""
        self.generation = 0
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def task(self) -> asyncio.Task | None:
        return self._task

    def _redact(self, text: str) -> str:
        creds = resolve_credentials(self.config.storage) if self.config is not None else None
        return redact(text, creds)[:300]

    def _fail(self, message: str) -> bool:
        self.error = message
        self.generation += 1
        log.error("coptwin: %s", message)
        return False

    def start(self, config_path: str | Path | None, stage: Any) -> bool:
        """Stop what runs, then run a new engine on ``stage``; False (and ``error``) on failure.

        Must be called on the thread that owns ``stage`` with an event loop set
        (Kit's main thread; ``asyncio.run`` in tests).  The engine's run loop
        opens it: storage, sensors table and scene index in a worker thread,
        the overlay on this thread, so the viewport never waits; if storage is
        unreachable the loop says why and retries with backoff.
        """
        self.stop()
        self.error = ""
        if not config_path:
            return self._fail(
                "no configuration: set the setting /exts/coptwin/config_path to a coptwin TOML file"
            )
        if stage is None:
            return self._fail("no stage is open")
        try:
            self.config = load_config(config_path)
        except ConfigError as exc:
            return self._fail(str(exc))
        try:
            engine = self._factory(self.config, stage)
        except Exception as exc:  # a broken core must not take Kit down
            why = f"cannot create the engine: {type(exc).__name__}: {exc}"
            return self._fail(self._redact(why))
        self.engine = engine
        self._stop = asyncio.Event()
        self._task = asyncio.ensure_future(self._run(engine, self._stop))
        self.generation += 1
        return True

    async def _run(self, engine: RunnableEngine, stop: asyncio.Event) -> None:
        try:
            await engine.run(stop)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep the last picture, say why it stopped
            self.error = self._redact(f"engine stopped: {type(exc).__name__}: {exc}")
            self.generation += 1
            log.error("coptwin: %s", self.error)

    def stop(self) -> None:
        """Stop the task and close the engine now (synchronous, for on_shutdown)."""
        had = self.engine is not None or self._task is not None
        if self._stop is not None:
            self._stop.set()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        engine, self.engine = self.engine, None
        self._task, self._stop = None, None
        if engine is not None:
            try:
                engine.close()
            except Exception as exc:
                log.warning("engine close failed: %s", self._redact(str(exc)))
        if had:
            self.generation += 1

    async def stop_async(self, timeout: float = 5.0) -> None:
        """Ask the loop to stop, wait for it (bounded), then close the engine."""
        task, stop = self._task, self._stop
        if stop is not None:
            stop.set()
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                log.warning("engine did not stop within %.1fs; cancelling it", timeout)
            except Exception:  # already recorded by _run
                pass
        self.stop()
