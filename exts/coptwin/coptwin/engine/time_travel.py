"""The COP as of a moment: the one time-travel path (Kit-free).

The engine's as-of (Kit's panel, ``coptwin run --as-of``, snapshots and reports)
installs the result as *the* COP; the web page computes one per viewer and caches
it, so one viewer's look at last night never freezes everyone's live picture.  Both
call :func:`cop_as_of`: read the readings table at that version or time,
canonicalise, a fresh :class:`~coptwin.model.state.LatestState`, the status rules
(with the data-quality post-step) into fresh :class:`~coptwin.engine.steps.Verdicts`,
where moving sensors were, and the operators' alarms as they were then (the fold of
the alarm events up to that moment, :meth:`~coptwin.alarms.fold.AlarmBook.as_of`).

*When* statuses are evaluated decides what "offline" means.  As of a time, it is that
time.  As of a version, it is the moment that version was committed (the Delta
``commitInfo`` timestamp, or the log file's time), never the newest timestamp in
the data: a bad row dated two days ahead (the demo writes one per batch on purpose)
is skipped from the state and must not move the clock either.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl

from coptwin.alarms.fold import AlarmBook
from coptwin.config import Config
from coptwin.delta import DeltaBatch, TableWatcher
from coptwin.engine import steps
from coptwin.geo.placement import Placer
from coptwin.model.columns import to_canonical
from coptwin.model.quality import rule_frame
from coptwin.model.registry import SensorRegistry
from coptwin.model.state import ApplyResult, LatestState
from coptwin.problem import Problem

AsOf = int | datetime
_NOWHERE = (np.zeros(0, dtype=np.int64), np.zeros((0, 3)))


_VERSION = re.compile(r"^v?(\d+)$", re.IGNORECASE)
_LIVE_WORDS = {"", "live", "now"}


class AsOfError(Problem, ValueError):
    """A moment that cannot be shown: text that is neither a version nor a time, a time
    in the future, a version the table never had."""


def parse_as_of(text: str, now: datetime | None = None) -> AsOf | None:
    """'' / 'live' -> None, '12' / 'v12' -> 12, ISO date/time -> aware UTC datetime
    (what the panel, the web page and ``--as-of`` accept alike).

    Naive times are read as UTC, because the tables store UTC.  Times in the
    future are refused: they would silently mean "live".
    """
    raw = text.strip()
    if raw.lower() in _LIVE_WORDS:
        return None
    match = _VERSION.match(raw)
    if match:
        return int(match.group(1))
    when = parse_time(raw)
    if when is None:
        raise AsOfError(
            f"{raw!r} is neither a table version (e.g. 12 or v12) "
            "nor a UTC date/time (e.g. 2024-05-01 13:30)"
        )
    now = now or datetime.now(timezone.utc)
    if when > now:
        raise AsOfError(f"{raw!r} is in the future; pick a past time or go Live")
    return when


def parse_time(text: str) -> datetime | None:
    """An ISO-8601 date/time as an aware UTC datetime (naive = UTC, a trailing Z
    allowed); None when ``text`` is not one.  Past or future alike (``--until``)."""
    raw = text.strip()
    iso = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return None
    when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when
    return when.astimezone(timezone.utc)


@dataclass(frozen=True)
class CopAsOf:
    """The readings of one moment, judged; nothing here is shared with the live COP."""

    as_of: AsOf
    #: The readings table version shown.
    version: int
    #: The moment statuses were evaluated at (see the module doc).
    when: datetime
    batch: DeltaBatch
    state: LatestState
    verdicts: steps.Verdicts
    #: Every sensor's evaluation (None only when the registry is empty).
    judged: steps.Judged | None
    applied: ApplyResult
    #: Registry indices of the sensors whose reading carries a position (trackers) ...
    moved: np.ndarray
    #: ... and where they were, ``(len(moved), 3)`` stage coordinates.
    moved_xyz: np.ndarray
    #: The sensors judged (the verdicts are in its order).
    registry: SensorRegistry
    #: The alarms as they were at :attr:`when` (None: no alarm book was given).
    alarms: AlarmBook | None = None


def cop_as_of(
    config: Config,
    registry: SensorRegistry,
    watcher: TableWatcher,
    placer: Placer | None,
    as_of: AsOf,
    *,
    alarms: AlarmBook | None = None,
    lock: AbstractContextManager | None = None,
) -> CopAsOf:
    """Blocking (a worker thread): the readings table as of ``as_of`` (a Delta version
    or a time, naive = UTC), judged against ``registry``; with ``alarms`` (the live
    book, folded on other threads under ``lock``) the alarms as of the same moment."""
    if isinstance(as_of, datetime):
        when = as_of if as_of.tzinfo else as_of.replace(tzinfo=timezone.utc)
        batch = watcher.snapshot(timestamp=when)
        first = watcher.commit_time(0) if batch.to_version == 0 else None
        if first is not None and when < first:  # before the table: nothing had reported
            batch = dataclasses.replace(batch, data=batch.data.clear())
        rows = to_canonical(batch.data, config.tables.readings, "readings")
    else:
        _check_version(watcher, as_of)
        batch = watcher.snapshot(version=as_of)
        rows = to_canonical(batch.data, config.tables.readings, "readings")
        when = watcher.commit_time(batch.to_version) or _newest_accepted(rows, config)
    state = LatestState(
        registry,
        max_future_skew_s=config.engine.max_future_skew_s,
        history_per_sensor=config.engine.history_per_sensor,
    )
    applied = steps.merge(state, rows, when, reset=False)
    verdicts = steps.Verdicts(rule_frame(registry, config))
    judged = steps.evaluate(state, config, verdicts, when, None, aging=False)
    moved, moved_xyz = _NOWHERE
    if judged is not None and placer is not None:
        moved, moved_xyz = steps.moved_positions(judged, placer)
    past = None
    if alarms is not None:
        with lock or contextlib.nullcontext():
            past = alarms.as_of(when)
    return CopAsOf(
        as_of=as_of,
        version=batch.to_version,
        when=when,
        batch=batch,
        state=state,
        verdicts=verdicts,
        judged=judged,
        applied=applied,
        moved=moved,
        moved_xyz=moved_xyz,
        registry=registry,
        alarms=past,
    )


def _check_version(watcher: TableWatcher, version: int) -> None:
    latest = watcher.latest_version()
    if latest is None or not 0 <= version <= latest:
        have = "has no versions yet" if latest is None else f"has versions 0 to {latest}"
        raise AsOfError(f"as of version {version}: the readings table {have}")


def _newest_accepted(rows: pl.DataFrame, config: Config) -> datetime:
    """When a version's commit time is gone (log cleanup): its newest reading the state
    accepts (never a far-future one), else now."""
    now = datetime.now(timezone.utc)
    limit = now + timedelta(seconds=config.engine.max_future_skew_s)
    newest = rows.filter(pl.col("ts") <= limit)["ts"].max() if rows.height else None
    return newest if isinstance(newest, datetime) else now
