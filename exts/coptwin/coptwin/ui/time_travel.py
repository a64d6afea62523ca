"""Live vs. "as of" mode: parse what the user typed and drive the engine.

The core can show the COP at an older Delta version or timestamp (time
travel).  Users type either a version number or a date/time; this module turns
that text into what ``Engine.set_as_of_async`` takes and turns failures into a
message the panel shows — a typo must never raise into Kit.

A jump reads the Delta table as of that moment, so it runs in a worker thread
(the engine's coroutine): Kit's main thread never waits on storage.  One jump
at a time; a second press while one runs is refused with a message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from coptwin.engine.time_travel import AsOfError, parse_as_of

__all__ = ["AsOfError", "TimeVM", "parse_as_of"]

log = logging.getLogger(__name__)

AsOf = int | datetime | None


SetAsOf = Callable[[AsOf], Awaitable[Any]]


class TimeVM:
    """Holds the as-of input field's text and the last error for the panel."""

    def __init__(self, set_as_of: SetAsOf | None = None) -> None:
        self._set_as_of = set_as_of
        self.text = ""
        self.error = ""
        self.requested: AsOf = None
        #: A jump is being read in a worker thread.
        self.busy = False

    def bind(self, set_as_of: SetAsOf | None) -> None:
        """Point at a new engine (stage reopened); the new engine starts live."""
        self._set_as_of = set_as_of
        self.requested = None
        self.error = ""
        self.busy = False

    def refuse(self, why: str) -> bool:
        """Show why a jump cannot happen now (e.g. the COP is still opening)."""
        self.error = why
        return False

    async def apply(self, text: str, now: datetime | None = None) -> bool:
        """Parse ``text`` and ask the engine to show that moment; False on error."""
        self.text = text
        try:
            when = parse_as_of(text, now)
        except AsOfError as exc:
            self.error = str(exc)
            return False
        return await self._send(when)

    async def go_live(self) -> bool:
        """Return to the live COP."""
        self.text = ""
        return await self._send(None)

    async def _send(self, when: AsOf) -> bool:
        if self._set_as_of is None:
            self.error = "the COP is not running (no stage or no configuration)"
            return False
        if self.busy:
            self.error = "still reading the previous time; try again in a moment"
            return False
        self.busy = True
        try:
            await self._set_as_of(when)
        except Exception as exc:  # the engine's refusal is shown, never raised into Kit
            log.warning("time travel to %r failed: %s", when, exc)
            self.error = f"cannot show {when if when is not None else 'live'}: {exc}"
            return False
        finally:
            self.busy = False
        self.requested = when
        self.error = ""
        return True
