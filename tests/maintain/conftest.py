"""Shared fixtures for the maintenance tests: real readings tables fed by the simulator.

Every row the simulator commits is remembered by its key (sensor_id, ts) -- each
batch has its own timestamp -- so a test can check that after maintenance every
committed row is in the table exactly once.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

from coptwin.sim.readings import ReadingSimulator
from coptwin.sim.writer import append_batch

UTC = dt.timezone.utc


def today() -> dt.date:
    return dt.datetime.now(UTC).date()


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=UTC)


class Readings:
    """A partitioned readings table in tmp_path plus the keys of every committed row."""

    def __init__(self, uri: str, storage_options: dict[str, str] | None = None) -> None:
        self.uri = uri
        self.storage_options = storage_options
        n = 30
        sensors = pl.DataFrame(
            {"sensor_id": [f"T{i:03d}" for i in range(n)], "kind": ["temperature"] * n}
        )
        self.sim = ReadingSimulator(sensors, seed=3, fraction=0.6, dropout_fraction=0.0)
        self.committed: list[tuple[str, dt.datetime]] = []
        self._lock = threading.Lock()
        self.today = today()

    def append(self, when: dt.datetime) -> pl.DataFrame:
        """One commit of readings stamped ``when`` (its date is the partition)."""
        frame = self.sim.batch(when)
        append_batch(self.uri, frame, partition_by=["date"], storage_options=self.storage_options)
        with self._lock:
            self.committed.extend(frame.select("sensor_id", "ts").rows())
        return frame

    def seed_history(self, days: int = 4, commits_per_day: int = 4) -> None:
        """Small commits into the ``days`` partitions before today (finished partitions)."""
        for d in range(days, 0, -1):
            start = midnight(self.today - dt.timedelta(days=d)) + dt.timedelta(hours=6)
            for k in range(commits_per_day):
                self.append(start + dt.timedelta(minutes=k))

    def dt(self, version: int | None = None) -> DeltaTable:
        return DeltaTable(self.uri, version=version, storage_options=self.storage_options)

    def version(self) -> int:
        return self.dt().version()

    def keys(self, version: int | None = None) -> list[tuple[str, dt.datetime]]:
        """(sensor_id, ts) of every row in the table, duplicates kept."""
        frame = pl.read_delta(
            self.uri,
            version=version,
            columns=["sensor_id", "ts"],
            storage_options=self.storage_options,
        )
        return frame.select("sensor_id", "ts").rows()

    def files(self, partition: str | None = None) -> set[str]:
        """Live data files, optionally of one date partition."""
        adds = pl.DataFrame(self.dt().get_add_actions(flatten=True))
        if partition is not None:
            adds = adds.filter(pl.col("partition.date").cast(pl.String) == partition)
        return set(adds["path"].to_list())

    def operations(self) -> list[tuple[int, str]]:
        """(version, operation) of every commit, oldest first."""
        return sorted((h["version"], h["operation"]) for h in self.dt().history())


class Writer(threading.Thread):
    """Appends to today's partition (and now and then late rows to yesterday's) until stopped."""

    def __init__(self, readings: Readings, late_every: int = 4) -> None:
        super().__init__(daemon=True)
        self.readings = readings
        self.late_every = late_every
        self.stop = threading.Event()
        self.commits = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        base = midnight(self.readings.today)
        late = base - dt.timedelta(minutes=30)
        try:
            while not self.stop.is_set():
                i = self.commits
                if self.late_every and i % self.late_every == self.late_every - 1:
                    when = late + dt.timedelta(milliseconds=i)
                else:
                    when = base + dt.timedelta(seconds=i)
                self.readings.append(when)
                self.commits += 1
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=60)
        assert not self.is_alive()
        if self.error is not None:
            raise self.error


@pytest.fixture
def readings(tmp_path: Path) -> Readings:
    """A readings table with four finished days of small commits."""
    r = Readings(str(tmp_path / "readings"))
    r.seed_history()
    return r


@pytest.fixture
def writer_factory():
    """Start writer threads; any still running are stopped at teardown."""
    started: list[Writer] = []

    def start(readings: Readings, **kwargs) -> Writer:
        w = Writer(readings, **kwargs)
        w.start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop.set()
        w.join(timeout=60)
