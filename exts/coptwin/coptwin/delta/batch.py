"""The unit of work the watcher hands to the engine."""

from __future__ import annotations

from dataclasses import dataclass

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

    @property
    def rows(self) -> int:
        return self.data.height
