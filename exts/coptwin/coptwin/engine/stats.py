"""Per-tick figures the status line, the demo summary and the benchmarks report."""

from __future__ import annotations

import statistics
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coptwin.delta import DeltaBatch


@dataclass
class TickStats:
    """What one tick did and how long each part took.

    ``read_ms`` is the part that may run in a worker thread (Delta log, parquet
    decode, state merge, rules); ``scene_ms`` is the part that must run on the
    thread owning the stage (Kit's main thread).
    """

    versions: dict[str, int] = field(default_factory=dict)
    rows_read: int = 0
    rows_applied: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    changed: int = 0
    full_reload: bool = False
    read_ms: float = 0.0
    scene_ms: float = 0.0
    #: Why the readings were reloaded in full ("first load", "table was deleted and
    #: recreated ..."); "" for increments.
    reload_reason: str = ""
    #: Readings data files skipped as unreadable, and the rows they held.
    quarantined: tuple[str, ...] = ()
    quarantined_rows: int = 0
    #: Per column, readings values of the wrong type that became null.
    uncast: dict[str, int] = field(default_factory=dict)

    def note_batch(self, batch: DeltaBatch) -> None:
        """What a readings batch was: a reload and why, what it had to leave out."""
        self.full_reload = batch.full_reload
        self.reload_reason = batch.reason if batch.full_reload else ""
        self.quarantined = batch.quarantined
        self.quarantined_rows = batch.quarantined_rows
        self.uncast = dict(batch.uncast)

    @property
    def total_ms(self) -> float:
        return self.read_ms + self.scene_ms

    @property
    def idle(self) -> bool:
        """True when the tick found nothing new."""
        return self.changed == 0 and self.rows_read == 0


@dataclass
class RunningStats:
    """Totals since start and a window of recent tick times."""

    ticks: int = 0
    rows_read: int = 0
    rows_applied: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    versions_applied: int = 0
    recent_ms: deque[float] = field(default_factory=lambda: deque(maxlen=2048))
    #: Of the readings as now applied: quarantined files and their rows, values that
    #: did not cast (per column); a full reload starts them again.
    quarantined: set[str] = field(default_factory=set)
    quarantined_rows: int = 0
    uncast: Counter[str] = field(default_factory=Counter)
    #: The last full reload that was not the first load, and why (a notice).
    last_reload: str = ""

    def add(self, tick: TickStats, versions_advanced: int) -> None:
        self.ticks += 1
        if tick.full_reload:
            self.quarantined, self.quarantined_rows, self.uncast = set(), 0, Counter()
            if tick.reload_reason not in ("", "first load", "time travel"):
                self.last_reload = tick.reload_reason
        self.quarantined.update(tick.quarantined)
        self.quarantined_rows += tick.quarantined_rows
        self.uncast.update(tick.uncast)
        self.rows_read += tick.rows_read
        self.rows_applied += tick.rows_applied
        self.versions_applied += versions_advanced
        self.skipped.update(tick.skipped)
        if not tick.idle:
            self.recent_ms.append(tick.total_ms)

    def percentile(self, q: float) -> float | None:
        """Tick-time percentile over the recent window (ticks that did work)."""
        data = sorted(self.recent_ms)
        if not data:
            return None
        if len(data) == 1:
            return data[0]
        return statistics.quantiles(data, n=100, method="inclusive")[max(0, min(98, int(q) - 1))]
