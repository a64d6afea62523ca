"""Current state as a deterministic fold of events, whatever their order or repetition.

An ``event_id`` is applied once: a row seen again (a retried commit, a second
engine writing the same system transition, a full reload) changes nothing.
When two rows share an ``event_id`` but differ, the one with the smaller sort
key wins, so any order of arrival folds to the same state.  An entity's events
are replayed in the total order of ``sort_key()`` (time, then event id, then
content).  Applying a batch re-folds only the entities the batch touches, so
cost grows with what changed; when all of an entity's new events sort after
the ones it has (the usual case: events arrive in order) and the subclass can
:meth:`~FoldedBook._advance` a state, they are applied to the current state
instead of replaying the entity's whole history.

:class:`FoldedBook` is the generic part; a subclass says what a row means
(``_problem``, ``event_type``), which entity an event belongs to (``_entity``) and
how an entity's sorted events fold into its state (``_fold``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import polars as pl

from coptwin.config import TableConfig
from coptwin.eventlog.schema import EventSchema

log = logging.getLogger(__name__)


class Event(Protocol):
    @property
    def event_id(self) -> str: ...

    def sort_key(self) -> tuple: ...


E = TypeVar("E", bound=Event)
S = TypeVar("S")


@dataclass
class ApplyResult:
    """What one :meth:`FoldedBook.apply` did."""

    #: Entities whose state changed (added, changed, removed), sorted.
    changed: list = field(default_factory=list)
    rows_in: int = 0
    rows_applied: int = 0
    #: Rows already applied before (same event_id).
    duplicates: int = 0
    #: Bad rows skipped, per reason.
    skipped: dict[str, int] = field(default_factory=dict)


def row_problem(row: dict[str, Any], events: tuple[str, ...], time_column: str) -> str | None:
    """Why a row cannot be an event of any table: no ``event_id``, an unknown ``event``,
    no time or no ``author`` (None when it has them all)."""
    if not row.get("event_id"):
        return "missing_event_id"
    if row.get("event") not in events:
        return "unknown_event"
    if not isinstance(row.get(time_column), datetime):
        return f"missing_{time_column}"
    if not row.get("author"):
        return "missing_author"
    return None


def _order(key: Hashable) -> tuple[bool, str]:
    """Sort keys: plain strings (ids) first, in their own order."""
    return (not isinstance(key, str), str(key))


class FoldedBook(Generic[E, S]):
    """Events deduplicated by id, grouped per entity, folded into one state per entity."""

    #: The table's canonical columns (set by subclasses).
    schema: ClassVar[EventSchema]
    #: The event type a row becomes (its fields are the schema's columns).
    event_type: ClassVar[type]

    def __init__(self) -> None:
        self._events: dict[str, E] = {}
        self._by_entity: dict[Hashable, set[str]] = {}
        self._states: dict[Hashable, S] = {}
        #: Largest sort key among each entity's events (decides incremental folding).
        self._last: dict[Hashable, tuple] = {}
        #: Bad rows skipped since creation / the last reset, per reason.
        self.skipped: Counter[str] = Counter()
        #: Bumped whenever some state changes (cheap "has anything changed" check).
        self.revision = 0

    # ---- what subclasses say ------------------------------------------------
    def _problem(self, row: dict[str, Any]) -> str | None:
        """Why a canonical row cannot be an event (None when it is fine)."""
        raise NotImplementedError

    def _event(self, row: dict[str, Any]) -> E:
        return self.event_type(**row)

    def _entity(self, event: E) -> Hashable:
        raise NotImplementedError

    def _fold(self, key: Hashable, events: list[E]) -> S | None:
        """State of one entity from its events in fold order; None: nothing to show yet."""
        raise NotImplementedError

    def _advance(self, key: Hashable, state: S, events: list[E]) -> S | None:
        """``state`` after further events that all sort after the ones it was folded
        from (in fold order); None: not supported, replay the whole history."""
        return None

    def _state_changed(self, key: Hashable, old: S | None, new: S | None) -> None:
        """Hook to keep side indexes (e.g. replies per note) in step."""

    def _cleared(self) -> None:
        """Hook: every state was dropped (reset or full reload)."""

    # ---- feeding ------------------------------------------------------------
    def apply(self, rows: pl.DataFrame, full_reload: bool = False) -> ApplyResult:
        """Fold a batch of canonical rows; ``full_reload`` replaces all events."""
        rows = self.schema.conform(rows)
        result = ApplyResult(rows_in=rows.height)
        events: list[E] = []
        skipped: Counter[str] = Counter()
        for row in self.schema.iter_rows(rows):
            problem = self._problem(row)
            if problem:
                skipped[problem] += 1
                continue
            events.append(self._event(row))
        if skipped:
            self.skipped.update(skipped)
            log.warning(
                "%s: skipped %d bad rows of %d (%s)",
                self.schema.name,
                sum(skipped.values()),
                rows.height,
                ", ".join(f"{k}={v}" for k, v in sorted(skipped.items())),
            )
        result.skipped = dict(skipped)
        result.changed, result.rows_applied, result.duplicates = self._apply_events(
            events, full_reload
        )
        return result

    def apply_batch(self, batch: Any, table: TableConfig | None = None) -> ApplyResult:
        """Fold one :class:`coptwin.delta.DeltaBatch` (user column names)."""
        rows = self.schema.to_canonical(batch.data, table)
        return self.apply(rows, full_reload=batch.full_reload)

    def apply_events(self, events: Iterable[E]) -> list:
        """Fold events written locally (instant echo; the table copy dedupes later)."""
        return self._apply_events(list(events), False)[0]

    def reset(self) -> None:
        self._events.clear()
        self._by_entity.clear()
        self._states.clear()
        self._last.clear()
        self.skipped.clear()
        self._cleared()
        self.revision += 1

    def _apply_events(self, events: list[E], full_reload: bool) -> tuple[list, int, int]:
        before = dict(self._states) if full_reload else None
        if full_reload:
            self._events.clear()
            self._by_entity.clear()
            self._states.clear()
            self._last.clear()
            self._cleared()
        fresh: dict[Hashable, list[E]] = {}
        replayed: set[Hashable] = set()
        applied = duplicates = 0
        for e in events:
            old = self._events.get(e.event_id)
            if old is not None:
                if old == e or old.sort_key() <= e.sort_key():
                    duplicates += 1
                    continue
                # Same event_id, different content: keep the smaller one so any
                # order of arrival folds to the same state.
                old_key = self._entity(old)
                self._by_entity.get(old_key, set()).discard(e.event_id)
                replayed.add(old_key)
            key = self._entity(e)
            self._events[e.event_id] = e
            self._by_entity.setdefault(key, set()).add(e.event_id)
            fresh.setdefault(key, []).append(e)
            applied += 1
        changed: set[Hashable] = set()
        for key in fresh.keys() | replayed:
            old_state = self._states.get(key)
            state = None
            new = sorted(fresh.get(key, ()), key=lambda e: e.sort_key())
            last = self._last.get(key)
            if (
                old_state is not None
                and last is not None
                and key not in replayed
                and new
                and new[0].sort_key() > last
            ):
                state = self._advance(key, old_state, new)
                if state is not None:
                    self._last[key] = new[-1].sort_key()
            if state is None:
                history = self.events_of(key)
                state = self._fold(key, history)
                if history:
                    self._last[key] = history[-1].sort_key()
                else:
                    self._last.pop(key, None)
            if state is None:
                self._states.pop(key, None)
            else:
                self._states[key] = state
            if state != old_state:
                changed.add(key)
                self._state_changed(key, old_state, state)
        if before is not None:
            changed = {
                key
                for key in before.keys() | self._states.keys()
                if before.get(key) != self._states.get(key)
            }
        if changed:
            self.revision += 1
        return sorted(changed, key=_order), applied, duplicates

    # ---- queries ------------------------------------------------------------
    def events_of(self, key: Hashable) -> list[E]:
        """An entity's events in fold order (its audit trail)."""
        ids = self._by_entity.get(key, ())
        return sorted((self._events[i] for i in ids), key=lambda e: e.sort_key())

    history = events_of

    def state(self, key: Hashable) -> S | None:
        return self._states.get(key)

    def __len__(self) -> int:
        return len(self._states)

    @property
    def event_count(self) -> int:
        return len(self._events)
