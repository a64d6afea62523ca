"""Per-tick figures the status line, the demo summary and the benchmarks report."""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field


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
    skipped: dict[str, int] = field(default_factory=dict)
    versions_applied: int = 0
    recent_ms: deque[float] = field(default_factory=lambda: deque(maxlen=2048))

    def add(self, tick: TickStats, versions_advanced: int) -> None:
        self.ticks += 1
        self.rows_read += tick.rows_read
        self.rows_applied += tick.rows_applied
        self.versions_applied += versions_advanced
        for reason, n in tick.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + n
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
