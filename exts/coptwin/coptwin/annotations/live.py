"""Following the annotations table live: Delta batches into an AnnotationBook.

The engine watches the annotations table like the readings (same events,
same :class:`coptwin.delta.TableWatcher`), so a note written in one session
reaches every other session within the sensor-update latency.  This module
is the small glue: :func:`apply_batch` for an engine that owns its watchers,
:class:`AnnotationFeed` (watcher + book) for everyone else.
"""

from __future__ import annotations

import logging

from coptwin.annotations.fold import AnnotationBook, ApplyResult
from coptwin.annotations.schema import to_canonical
from coptwin.config import Config, TableConfig
from coptwin.delta import DeltaBatch, TableNotFoundError, TableWatcher
from coptwin.storage import delta_storage_options

log = logging.getLogger(__name__)


def apply_batch(
    book: AnnotationBook, batch: DeltaBatch, table: TableConfig | None = None
) -> ApplyResult:
    """Fold one watcher batch (user column names) into ``book``."""
    rows = to_canonical(batch.data, table)
    return book.apply(rows, full_reload=batch.full_reload)


class AnnotationFeed:
    """A watcher on the annotations table feeding one book.

    A table that does not exist yet simply has no notes: it appears with the
    first note anyone writes.
    """

    def __init__(
        self,
        uri: str,
        storage_options: dict[str, str] | None = None,
        table: TableConfig | None = None,
        book: AnnotationBook | None = None,
    ) -> None:
        self.watcher = TableWatcher(uri, storage_options)
        self.table = table
        self.book = book if book is not None else AnnotationBook()

    @classmethod
    def from_config(cls, config: Config, book: AnnotationBook | None = None) -> AnnotationFeed:
        return cls(
            config.table_uri("annotations"),
            delta_storage_options(config.storage),
            config.tables.annotations,
            book,
        )

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
        result = apply_batch(self.book, batch, self.table)
        if result.changed:
            log.debug("annotations v%s: %d notes changed", batch.to_version, len(result.changed))
        return result
