"""The status line and the "not live" banner, computed from an EngineStatus.

Operators glance at one line to know whether the COP can be trusted: is the
engine connected, how old is the newest data, which Delta versions are shown,
and whether they are looking at the past.  The texts live here (Kit-free) so
tests pin them down and the omni.ui panel only paints them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ..engine.health import quarantine_note, reload_note, uncast_note
from ..engine.snapshot import EngineStatus
from .format import age_seconds, format_age, format_duration, format_time

log = logging.getLogger(__name__)

Level = Literal["ok", "warn", "error", "info"]

#: Default age after which a connected COP is reported as stale.
DEFAULT_STALE_AFTER_S = 120.0


@dataclass(frozen=True)
class StatusLine:
    """Everything the status area shows; ``level`` picks the colour."""

    #: Short state, e.g. "Connected", "Disconnected", "Stale", "As of v12".
    state: str
    #: The headline: state plus reason or age.
    text: str
    #: Second line: event sources, table versions, tick time, skipped rows.
    details: str
    level: Level
    #: "" when live; otherwise a sentence saying what moment the COP shows.
    banner: str = ""

    @property
    def live(self) -> bool:
        return not self.banner


def as_of_text(as_of: int | datetime | None) -> str:
    """'version 12' or a UTC time; '' when live."""
    if as_of is None:
        return ""
    if isinstance(as_of, datetime):
        return format_time(as_of)
    return f"version {as_of}"


def banner_text(as_of: int | datetime | None) -> str:
    """The sentence shown across the panel while the COP is not live."""
    if as_of is None:
        return ""
    return (
        f"NOT LIVE — showing the COP as of {as_of_text(as_of)}. "
        "New readings are not applied until you return to Live."
    )


def _details(status: EngineStatus) -> str:
    parts: list[str] = []
    sources = ", ".join(status.event_sources) if status.event_sources else "none"
    parts.append(f"events: {sources}")
    if status.versions:
        versions = ", ".join(f"{name} v{v}" for name, v in sorted(status.versions.items()))
        parts.append(f"versions: {versions}")
    if status.last_tick_ms is not None:
        parts.append(f"last tick {status.last_tick_ms:.1f} ms")
    if status.rows_read:
        parts.append(f"{status.rows_read} rows read")
    skipped = {k: v for k, v in status.rows_skipped.items() if v}
    if skipped:
        total = sum(skipped.values())
        why = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items()))
        parts.append(f"{total} rows skipped ({why})")
    parts += [note for note in (uncast_note(status), reload_note(status)) if note]
    return " · ".join(parts)


def format_status(
    status: EngineStatus,
    now: datetime,
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
) -> StatusLine:
    """The status line for one engine status at wall-clock time ``now``.

    Precedence: as-of (the user chose the past) > disconnected > connecting >
    stale (connected but no new data for ``stale_after_s``) > connected.  Quarantined
    files add a warning to a connected (or stale) line; values of the wrong type and
    a full reload's reason are in the details.
    """
    details = _details(status)
    age = age_seconds(status.last_update, now)
    updated = f"last update {format_age(age)}" if age is not None else "no update yet"

    if status.as_of is not None:
        state = f"As of {as_of_text(status.as_of)}"
        return StatusLine(
            state=state,
            text=f"{state} (not live)",
            details=details,
            level="info",
            banner=banner_text(status.as_of),
        )
    if status.connection == "disconnected":
        reason = status.reason or "no reason given"
        return StatusLine(
            state="Disconnected",
            text=f"Disconnected: {reason} · {updated}",
            details=details,
            level="error",
        )
    if status.connection == "connecting":
        return StatusLine(
            state="Connecting",
            text=f"Connecting… · {updated}",
            details=details,
            level="warn",
        )
    # Unreadable files are skipped and the rest applied: still connected, but say so.
    quarantine = quarantine_note(status)
    if age is not None and age > stale_after_s:
        return StatusLine(
            state="Stale",
            text=" · ".join(
                p for p in (f"Stale: no new data for {format_duration(age)}", quarantine) if p
            ),
            details=details,
            level="warn",
        )
    if quarantine:
        return StatusLine(
            state="Connected",
            text=f"Connected · {updated} · {quarantine}",
            details=details,
            level="warn",
        )
    return StatusLine(state="Connected", text=f"Connected · {updated}", details=details, level="ok")


def idle_status_line(reason: str) -> StatusLine:
    """Status when no engine runs at all (no stage, no config, engine failed)."""
    return StatusLine(
        state="Stopped",
        text=f"Stopped: {reason}",
        details="",
        level="error" if reason else "warn",
    )
