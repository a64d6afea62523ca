"""Which partitions of a table compaction may touch, and how many files each holds.

Sensors append to the partition of the current UTC date (and, with clock skew
or time zones, to the next one); those partitions are never compacted, so a
compaction commit never rewrites a file a writer is adding next to.  Only
*finished* partitions -- dated at least ``older_than_days`` before today --
are candidates, and only when they hold two or more files smaller than the
target size (one file, or only big files, leaves nothing to gain).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

log = logging.getLogger(__name__)

#: delta-rs' default target file size for OPTIMIZE when the table sets none.
DEFAULT_TARGET_SIZE = 100 * 1024 * 1024


@dataclass(frozen=True)
class PartitionPlan:
    """One finished partition worth compacting."""

    value: str
    files: int
    small_files: int
    bytes: int


@dataclass
class CompactionPlan:
    """What compaction would do to one table, plus what it leaves alone and why."""

    partition_column: str | None
    cutoff: dt.date
    target_size: int
    partitions: list[PartitionPlan] = field(default_factory=list)
    #: partitions left alone, per reason ("current or newer", "nothing to gain", ...)
    skipped: dict[str, int] = field(default_factory=dict)
    #: why compaction is off for the whole table (e.g. not partitioned by date)
    disabled: str = ""

    @property
    def files(self) -> int:
        return sum(p.small_files for p in self.partitions)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n


def target_size_of(table: Any, override: int | None = None) -> int:
    """The bin size compaction aims for: explicit, else the table's property, else 100 MiB."""
    if override:
        return int(override)
    conf = table.metadata().configuration or {}
    raw = conf.get("delta.targetFileSize")
    try:
        return int(raw) if raw else DEFAULT_TARGET_SIZE
    except ValueError:
        log.warning("ignoring delta.targetFileSize=%r (not a number of bytes)", raw)
        return DEFAULT_TARGET_SIZE


_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})(?:$|[ T])")


def parse_partition_date(value: str) -> dt.date | None:
    """``2026-01-31``, ``20260131`` or a timestamp starting with one; None if not a date.

    Parsed by hand so Python 3.10 and 3.11+ (wider ``fromisoformat``) agree.
    """
    m = _DATE.match(value or "")
    if m is None:
        return None
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def files_frame(table: Any) -> pl.DataFrame:
    """The table's live data files (path, size, partition values) from its snapshot."""
    return pl.DataFrame(table.get_add_actions(flatten=True))


def plan_compaction(
    table: Any,
    partition_column: str,
    *,
    today: dt.date,
    older_than_days: int = 1,
    target_size: int | None = None,
) -> CompactionPlan:
    """Plan compaction of the finished ``partition_column`` partitions of ``table``.

    A partition is finished when its date is at most ``today - older_than_days``;
    ``older_than_days`` is at least 1, so today's partition (where sensors write)
    and anything newer are never touched.
    """
    if older_than_days < 1:
        raise ValueError(
            "older_than_days must be at least 1: today's partition is where sensors write"
        )
    cutoff = today - dt.timedelta(days=older_than_days)
    size = target_size_of(table, target_size)
    plan = CompactionPlan(partition_column=partition_column, cutoff=cutoff, target_size=size)
    partitions = list(table.metadata().partition_columns)
    if partition_column not in partitions:
        plan.partition_column = None
        plan.disabled = (
            f"table is not partitioned by {partition_column!r} (partitions: "
            f"{', '.join(partitions) or 'none'}); compaction would rewrite the files "
            "writers are appending to, so it is skipped"
        )
        return plan
    files = files_frame(table)
    if files.height == 0:
        return plan
    col = f"partition.{partition_column}"
    per = (
        files.select(
            pl.col(col).cast(pl.String).alias("value"),
            pl.col("size_bytes").cast(pl.Int64).alias("size"),
        )
        .group_by("value")
        .agg(
            pl.len().alias("files"),
            (pl.col("size") < size).sum().alias("small"),
            pl.col("size").sum().alias("bytes"),
        )
        .sort("value", nulls_last=True)
    )
    for value, n_files, small, n_bytes in per.iter_rows():
        if value is None:
            plan.skip("null partition value")
            continue
        day = parse_partition_date(value)
        if day is None:
            plan.skip("partition value is not a date")
            log.warning("partition %s=%r is not a date; not compacted", partition_column, value)
        elif day > cutoff:
            plan.skip("current or too recent")
        elif small < 2:
            plan.skip("nothing to gain")
        else:
            plan.partitions.append(PartitionPlan(value, int(n_files), int(small), int(n_bytes)))
    return plan
