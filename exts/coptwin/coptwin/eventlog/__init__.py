"""Append-only event tables on Delta Lake, folded into current state.

The reviewers' notes (:mod:`coptwin.annotations`) and the operators' alarms
(:mod:`coptwin.alarms`) are both event-sourced: every row of their Delta table
is one immutable event, and what people see is a deterministic fold of those
events.  This package is the one machinery both use:

- :mod:`.model` :class:`EventError` (bad input, nothing written), ``utc_now``, the
  author and free-text checks;
- :mod:`.schema` :class:`EventSchema`, canonical columns and the config's column mapping;
- :mod:`.store` :class:`EventLog`, create (append-only), read (time travel), append with
  retry on lost commit races (conditional put on S3); :class:`EventStore`, the reading half
  of a package's store (a book kept current, time travel);
- :mod:`.fold` :class:`FoldedBook`, dedupe by ``event_id``, replay per entity in a total
  order, count bad rows; :class:`ApplyResult`;
- :mod:`.feed` :class:`EventFeed`, a table watcher feeding a book live.
"""

from __future__ import annotations

from coptwin.eventlog.feed import EventFeed
from coptwin.eventlog.fold import ApplyResult, FoldedBook
from coptwin.eventlog.model import EventError
from coptwin.eventlog.schema import EventSchema
from coptwin.eventlog.store import EventLog, EventLogError, EventStore

__all__ = [
    "ApplyResult",
    "EventError",
    "EventFeed",
    "EventLog",
    "EventLogError",
    "EventSchema",
    "EventStore",
    "FoldedBook",
]
