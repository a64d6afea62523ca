"""Export alarms for spreadsheets and other tools: the alarm list, or the whole audit trail.

``alarms``: one row per alarm with its state at a time (:meth:`AlarmBook.frame`);
``events``: every transition (who, when, why) in fold order - the audit trail
an incident review asks for.  CSV or JSON lines.  Because spreadsheets
execute cells starting with ``= + - @``, such text cells are prefixed with
``'`` unless ``spreadsheet_safe`` is off: the text is data, never a formula.
"""

from __future__ import annotations

import json
from datetime import datetime

import polars as pl

from coptwin.alarms.fold import AlarmBook
from coptwin.alarms.schema import EVENT_SCHEMA

#: Cell starts spreadsheets treat as a formula (OWASP "CSV injection").
_FORMULA_START = r"^[=+\-@\t\r]"


def events_frame(book: AlarmBook) -> pl.DataFrame:
    """Every event the book folded: per alarm (oldest first) in fold order, then the
    out-of-service / in-service events per sensor and layer."""
    events = [e for alarm in book for e in book.history(alarm.alarm_id)]
    for scope in book.scopes(back_in_service=True):
        events.extend(book.events_of(scope.key))
    return EVENT_SCHEMA.frame(events)


def spreadsheet_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells that a spreadsheet would run as a formula get a leading ``'``."""
    text = [c for c, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA_START))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text
    )


def to_csv(frame: pl.DataFrame, safe: bool = True) -> str:
    return (spreadsheet_safe(frame) if safe else frame).write_csv()


def to_json_lines(frame: pl.DataFrame) -> str:
    """One JSON object per line; times as ISO-8601 UTC."""

    def plain(v):
        return v.isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else v

    return "".join(
        json.dumps({k: plain(v) for k, v in row.items()}, ensure_ascii=False) + "\n"
        for row in frame.iter_rows(named=True)
    )
