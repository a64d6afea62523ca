"""Operators' alarms: ISA-18.2 lifecycle on an append-only Delta table, and notifications.

- :mod:`.model` events, the folded :class:`Alarm`, ids, input checks;
- :mod:`.lifecycle` which transition is valid where (one table for store and fold);
- :mod:`.schema` the table's columns;
- :mod:`.fold` :class:`AlarmBook`, the deterministic fold (time travel: fold an older version);
- :mod:`.store` :class:`AlarmStore`, validated operator transitions, system appends;
- :mod:`.evaluator` :class:`AlarmEvaluator`, readings' statuses -> raise / repeat / return,
  vectorised, with on/off delays against chattering;
- :mod:`.notices` what to tell people (raise, escalation, return, clear);
- :mod:`.notify` :class:`Notifier`, at-least-once delivery to webhooks and e-mail;
- :mod:`.export` CSV / JSON export.

The machinery under the table is :mod:`coptwin.eventlog`, shared with the reviewers' notes.
"""

from __future__ import annotations

from coptwin.alarms.fold import AlarmBook
from coptwin.alarms.lifecycle import InvalidTransition
from coptwin.alarms.model import Alarm, AlarmError, AlarmEvent, ServiceScope
from coptwin.alarms.store import AlarmStore

__all__ = [
    "Alarm",
    "AlarmBook",
    "AlarmError",
    "AlarmEvent",
    "AlarmStore",
    "InvalidTransition",
    "ServiceScope",
]
