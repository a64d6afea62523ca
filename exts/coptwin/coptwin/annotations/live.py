"""Following the annotations table live: Delta batches into an AnnotationBook.

The engine watches the annotations table like the readings (same events,
same :class:`coptwin.delta.TableWatcher`), so a note written in one session
reaches every other session within the sensor-update latency.  This module
is the small glue: :func:`apply_batch` for an engine that owns its watchers,
:class:`AnnotationFeed` (a :class:`coptwin.eventlog.EventFeed`) for everyone else.
"""

from __future__ import annotations

from coptwin.annotations.fold import AnnotationBook, ApplyResult
from coptwin.config import Config, TableConfig
from coptwin.delta import DeltaBatch
from coptwin.eventlog.feed import EventFeed
from coptwin.storage import delta_storage_options


def apply_batch(
    book: AnnotationBook, batch: DeltaBatch, table: TableConfig | None = None
) -> ApplyResult:
    """Fold one watcher batch (user column names) into ``book``."""
    return book.apply_batch(batch, table)


class AnnotationFeed(EventFeed[AnnotationBook]):
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
        super().__init__(
            uri, book if book is not None else AnnotationBook(), storage_options, table
        )

    @classmethod
    def from_config(cls, config: Config, book: AnnotationBook | None = None) -> AnnotationFeed:
        return cls(
            config.table_uri("annotations"),
            delta_storage_options(config.storage),
            config.tables.annotations,
            book,
        )
