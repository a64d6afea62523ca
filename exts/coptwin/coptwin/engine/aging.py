"""When a sensor's status can next change with no new reading at all.

Statuses also change by time alone: a motion event stops being active, a
sensor that fell silent turns stale and then offline.  Re-evaluating every
sensor every second would make a tick cost grow with the fleet; instead each
evaluated sensor gets its next possible deadline (latest reading time plus
``active_for_s``, ``stale_after_s`` or ``offline_after_s``, whichever comes next)
and a tick re-evaluates only the sensors whose deadline has passed.
"""

from __future__ import annotations

import heapq
from datetime import datetime

import polars as pl

_RULE_COLUMNS = ("active_for_s", "stale_after_s", "offline_after_s")


class AgingSchedule:
    """A min-heap of (deadline, sensor_id) with lazy invalidation."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []
        self._due_at: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._due_at)

    def clear(self) -> None:
        self._heap.clear()
        self._due_at.clear()

    def schedule(self, readings: pl.DataFrame, rules: pl.DataFrame, now: datetime) -> None:
        """(Re)schedule the sensors in ``readings`` (``sensor_id, ts``; several rows per
        sensor allowed, e.g. one per quantity) against their ``rules`` rows.

        Every row's deadlines count, which may wake a sensor early (it is then
        evaluated and rescheduled) but never late.
        """
        if readings.height == 0:
            return
        now_s = now.timestamp()
        t = pl.col("ts").dt.epoch("us") / 1e6
        future = [
            pl.when(t + pl.col(c) > now_s).then(t + pl.col(c))
            for c in _RULE_COLUMNS
            if c in rules.columns
        ]
        if not future:
            return
        nxt = (
            readings.select("sensor_id", "ts")
            .join(rules.select("sensor_id", *_RULE_COLUMNS), on="sensor_id", how="inner")
            .select("sensor_id", pl.min_horizontal(future).alias("next"))
            .group_by("sensor_id")
            .agg(pl.col("next").min())
        )
        due_at, heap = self._due_at, self._heap
        for sid, when in zip(nxt["sensor_id"].to_list(), nxt["next"].to_list(), strict=True):
            if when is None:
                due_at.pop(sid, None)  # nothing left to age (or no time-based rule)
            elif due_at.get(sid) != when:
                due_at[sid] = when
                heapq.heappush(heap, (when, sid))
        if len(heap) > 4 * max(len(due_at), 1024):  # drop superseded entries now and then
            self._heap = [(w, s) for w, s in heap if due_at.get(s) == w]
            heapq.heapify(self._heap)

    def due(self, now: datetime) -> list[str]:
        """Sensors whose deadline has passed (each returned once per scheduling)."""
        now_s = now.timestamp()
        out: list[str] = []
        heap, due_at = self._heap, self._due_at
        while heap and heap[0][0] <= now_s:
            when, sid = heapq.heappop(heap)
            if due_at.get(sid) == when:
                del due_at[sid]
                out.append(sid)
        return out
