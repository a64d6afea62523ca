"""The one thing every event source produces: a hint that a table may have changed.

A hint carries no data on purpose.  Storage events can be lost, duplicated or
reordered; the engine answers every hint with a cheap Delta log version check,
so the log version - never the event - decides what is read.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

#: Counters every source reports (see :class:`SourceStats`).
COUNTERS: tuple[str, ...] = ("received", "hints", "malformed", "foreign", "ignored")


@dataclass(frozen=True)
class Hint:
    """Table ``table`` may have changed; ``source`` says who thinks so, ``key`` which object."""

    table: str
    source: str
    key: str | None = None


class SourceStats:
    """Per-source counters, so skipped events are never silent (shown by the UI and CLI)."""

    def __init__(self) -> None:
        self._counts: dict[str, Counter[str]] = {}

    def add(self, source: str, counter: str, n: int = 1) -> None:
        self._counts.setdefault(source, Counter())[counter] += n

    def get(self, source: str, counter: str) -> int:
        return self._counts.get(source, Counter())[counter]

    def as_dict(self) -> dict[str, dict[str, int]]:
        """``{source: {counter: n}}`` with every counter present (zeros included)."""
        # list(): snapshots read this from worker threads while the loop adds sources
        items = list(self._counts.items())
        return {src: {c: counts[c] for c in COUNTERS} for src, counts in items}
