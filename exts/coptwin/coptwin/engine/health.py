"""What the reads had to leave out, in words: quarantined files, values of the wrong
type, a full reload's reason.  The panel's and the web page's status line
(:mod:`coptwin.ui.status`) and the ``coptwin run`` summary say it the same way."""

from __future__ import annotations

from coptwin.engine.snapshot import EngineStatus


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def quarantine_note(status: EngineStatus) -> str:
    """'readings: 1 file quarantined (4 rows), see the log', or '' when none is."""
    n = status.quarantined_files
    if not n:
        return ""
    rows = status.quarantined_rows
    held = f" ({rows} {_plural(rows, 'row')})" if rows else ""
    return f"readings: {n} {_plural(n, 'file')} quarantined{held}, see the log"


def uncast_note(status: EngineStatus) -> str:
    """'readings: 2 values of the wrong type (value 2)', or ''."""
    uncast = {k: v for k, v in status.uncast.items() if v}
    if not uncast:
        return ""
    total = sum(uncast.values())
    which = ", ".join(f"{k} {v}" for k, v in sorted(uncast.items()))
    return f"readings: {total} {_plural(total, 'value')} of the wrong type ({which})"


def reload_note(status: EngineStatus) -> str:
    """'readings reloaded in full: table was deleted and recreated ...', or ''."""
    return f"readings reloaded in full: {status.last_reload}" if status.last_reload else ""


def data_notes(status: EngineStatus) -> list[str]:
    """Every note that applies, most important first."""
    return [n for n in (quarantine_note(status), uncast_note(status), reload_note(status)) if n]
