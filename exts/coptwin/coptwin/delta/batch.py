"""The unit of work the watcher hands to the engine."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl


@dataclass(frozen=True)
class DeltaBatch:
    """Rows that became visible between two table versions.

    ``full_reload`` means ``data`` is the complete table as of ``to_version``
    and replaces whatever the consumer derived before (first load, overwrite,
    RESTORE, DELETE, expired history); otherwise ``data`` holds only rows
    appended after ``from_version``.  A batch may be empty (e.g. the new
    versions were only OPTIMIZE / checkpoint commits) so that consumers can
    still record the version they are at.

    ``quarantined`` and ``uncast`` say what of these versions could not be used;
    a status line shows them (e.g. "readings: 1 file quarantined, 2 values unreadable").
    """

    table_uri: str
    #: Version applied before this batch; None on a first load or a snapshot.
    from_version: int | None
    to_version: int
    #: Columns use the table's own names; partition columns included.
    data: pl.DataFrame
    full_reload: bool
    #: Data files actually read (for a full reload: files in the snapshot).
    files_read: int
    #: Why a full reload happened ("first load", "overwrite", ...); "" for increments.
    reason: str = ""
    #: Data files of these versions that could not be decoded and were skipped
    #: (paths as in the log; the watcher's log names each with its reason).
    quarantined: tuple[str, ...] = ()
    #: Rows in the quarantined files, per the writers' statistics (0 when unknown).
    quarantined_rows: int = 0
    #: Per column, values that did not convert to the table's type and became
    #: null (NaN for numbers, which the latest state then counts as ``bad_value``).
    uncast: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.data.height
