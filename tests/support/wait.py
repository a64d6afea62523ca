"""Bounded waiting for a condition: the one helper every test polls with.

A test never sleeps a fixed time hoping something happened; it waits until it did,
and fails with what it waited for when the timeout passes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def wait_until(
    predicate: Callable[[], object],
    timeout: float = 15.0,
    interval: float = 0.02,
    *,
    what: str = "condition",
) -> None:
    """Call ``predicate`` every ``interval`` seconds until it is truthy; AssertionError
    naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:g} s")
        time.sleep(interval)


async def until(
    predicate: Callable[[], object],
    timeout: float = 15.0,
    interval: float = 0.02,
    *,
    what: str = "condition",
) -> None:
    """:func:`wait_until` for coroutines: sleeps with ``asyncio.sleep`` so the loop runs."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:g} s")
        await asyncio.sleep(interval)
