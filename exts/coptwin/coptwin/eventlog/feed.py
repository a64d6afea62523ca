"""Following an event table live: Delta batches into a :class:`FoldedBook`.

The engine watches event tables like the readings (same hints, same
:class:`coptwin.delta.TableWatcher`), so an event written in one session
reaches every other session within the sensor-update latency.  A table that
does not exist yet simply has no events: it appears with the first one.
"""

from __future__ import annotations

import logging
from typing import Generic, TypeVar

from coptwin.config import TableConfig
from coptwin.delta import TableNotFoundError, TableWatcher
from coptwin.eventlog.fold import ApplyResult, FoldedBook

log = logging.getLogger(__name__)

B = TypeVar("B", bound=FoldedBook)


class EventFeed(Generic[B]):
    """A watcher on one event table feeding one book."""

    def __init__(self, watcher: TableWatcher, book: B, table: TableConfig | None) -> None:
        self.watcher = watcher
        self.table = table
        self.book = book

    @property
    def version(self) -> int | None:
        return self.watcher.applied_version

    def poll(self) -> ApplyResult | None:
        """Fold what is new; None when nothing is (or no table exists yet)."""
        try:
            batch = self.watcher.poll()
        except TableNotFoundError:
            return None
        if batch is None:
            return None
        result = self.book.apply_batch(batch, self.table)
        if result.changed:
            log.debug(
                "%s v%s: %d entities changed",
                self.book.schema.name,
                batch.to_version,
                len(result.changed),
            )
        return result
