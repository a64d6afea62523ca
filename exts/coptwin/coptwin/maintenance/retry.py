"""Retry a maintenance step when it loses a commit race with a writer.

Sensors keep appending while maintenance runs.  delta-rs rebases most commits
on its own, but a step can still lose: ``CommitFailedError`` or a
``DeltaError`` naming a concurrent transaction or a version that already
exists.  Those are retried with exponential backoff and jitter, each attempt
on a freshly loaded table (the step callable reloads); any other error is a
real failure and is raised at once.  A failed attempt commits nothing, so a
retry can never duplicate or drop rows.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from deltalake.exceptions import CommitFailedError, DeltaError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Lower-cased message fragments delta-rs uses for lost commit races.
_CONFLICT_HINTS = (
    "commit failed",
    "concurrent",
    "conflict",
    "version already exists",
    "already exists in the log",
    "transaction failed",
    "max commit attempts",
)


def is_conflict(exc: BaseException) -> bool:
    """True when ``exc`` means "another writer committed first; try again"."""
    if isinstance(exc, CommitFailedError):
        return True
    if isinstance(exc, DeltaError):
        text = str(exc).lower()
        return any(hint in text for hint in _CONFLICT_HINTS)
    return False


class RetriesExhausted(RuntimeError):
    """A step kept losing commit races; nothing of it was committed."""

    def __init__(self, what: str, attempts: int, last: BaseException) -> None:
        super().__init__(f"{what}: gave up after {attempts} commit conflicts ({last})")
        self.attempts = attempts


def with_retry(
    step: Callable[[], T],
    what: str,
    *,
    attempts: int = 8,
    base_delay_s: float = 0.1,
    max_delay_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, int]:
    """Run ``step`` until it succeeds; returns its result and the attempts it took."""
    delay = base_delay_s
    for attempt in range(1, attempts + 1):
        try:
            return step(), attempt
        except Exception as exc:
            if not is_conflict(exc):
                raise
            if attempt == attempts:
                raise RetriesExhausted(what, attempt, exc) from None
            log.info("%s lost a commit race (attempt %d): %s; retrying", what, attempt, exc)
            sleep(delay * (1.0 + random.random()))
            delay = min(delay * 2.0, max_delay_s)
    raise AssertionError("unreachable")  # pragma: no cover
