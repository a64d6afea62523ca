"""Feeding a deployment's Delta tables: sensors registration and a stream of readings.

Used by ``coptwin simulate`` (against any configured storage, local or S3),
``coptwin demo`` and the benchmarks, so all three write tables the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import polars as pl

from coptwin.config import Config
from coptwin.sim.readings import ReadingSimulator
from coptwin.sim.writer import append_batch
from coptwin.storage import delta_storage_options

log = logging.getLogger(__name__)


def write_sensors(config: Config, sensors: pl.DataFrame) -> None:
    """Register the sensors (overwrites the sensors table; it is small)."""
    append_batch(
        config.table_uri("sensors"),
        _to_user_columns(sensors, config, "sensors"),
        storage_options=delta_storage_options(config.storage),
        mode="overwrite",
        schema_mode="overwrite",
    )


def _to_user_columns(frame: pl.DataFrame, config: Config, table: str) -> pl.DataFrame:
    """Rename canonical columns to the user's names from the config's column mapping."""
    tc = getattr(config.tables, table)
    return frame.rename({c: tc.column(c) for c in frame.columns if tc.column(c) != c})


@dataclass
class Feed:
    """Appends one batch of readings per ``interval_s`` until stopped.

    ``bad_rows`` adds a few malformed rows to some batches (unknown sensor,
    missing timestamp, NaN) so the COP's skip counters have something to show.
    """

    config: Config
    simulator: ReadingSimulator
    interval_s: float = 1.0
    bad_rows: bool = False
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    commits: int = 0
    rows: int = 0
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def append(self, at: datetime | None = None, fraction: float | None = None) -> int:
        """Write one batch now (or stamped ``at``); returns rows written."""
        at = at or self.clock()
        batch = self.simulator.batch(at, fraction=fraction)
        if self.bad_rows and self.commits % 5 == 2:
            batch = pl.concat([batch, _bad_rows(at)], how="vertical_relaxed")
        append_batch(
            self.config.table_uri("readings"),
            _to_user_columns(batch, self.config, "readings"),
            storage_options=delta_storage_options(self.config.storage),
            partition_by=[self.config.tables.readings.column("date")],
        )
        self.commits += 1
        self.rows += batch.height
        return batch.height

    def backfill(self, minutes: int, step_min: int = 5) -> None:
        """Readings from the recent past, so a fresh COP shows history and stale sensors."""
        now = self.clock()
        for m in range(minutes, 0, -step_min):
            self.append(now - timedelta(minutes=m), fraction=1.0)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="coptwin-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.append()
            except Exception:  # keep feeding; the engine must cope with gaps
                log.exception("simulator append failed")
            next_at += self.interval_s
            self._stop.wait(max(0.0, next_at - time.monotonic()))


def _bad_rows(at: datetime) -> pl.DataFrame:
    """Rows a flaky gateway sends: unknown sensor, null id, NaN value, far-future ts."""
    from coptwin.sim.writer import READINGS_SCHEMA

    return pl.DataFrame(
        {
            "sensor_id": ["NOT-A-SENSOR", None, "TEM-0001", "TEM-0002"],
            "ts": [at, at, at, at + timedelta(days=2)],
            "value": [1.0, 1.0, float("nan"), 20.0],
            "quantity": ["temperature"] * 4,
            "unit": ["degC"] * 4,
            "lon": [None] * 4,
            "lat": [None] * 4,
            "alt": [None] * 4,
            "date": [at.strftime("%Y-%m-%d")] * 4,
        },
        schema=READINGS_SCHEMA,
    )
