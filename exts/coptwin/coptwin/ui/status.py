"""The status line and the "not live" banner, computed from an EngineStatus.

Operators glance at one line to know whether the COP can be trusted: is the
engine connected, how old is the newest data, which Delta versions are shown,
and whether they are looking at the past.  The texts live here (Kit-free) so
tests pin them down and the omni.ui panel only paints them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from ..engine.alarms import AlarmsView
from ..engine.health import quarantine_note, reload_note, uncast_note
from ..engine.snapshot import EngineStatus
from .format import age_seconds, format_age, format_duration, format_time

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
    #: Operators' alarms at a glance ("" when none is open), and its colour.
    badge: str = ""
    badge_level: Level = "info"

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
    parts.extend(_event_counts(status.event_counts))
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


def _event_counts(counts: dict[str, dict[str, int]]) -> list[str]:
    """Per push source: events received, and those skipped (malformed, foreign, ignored)."""
    out = []
    for source, c in counts.items():
        if not c.get("received"):
            continue
        skipped = ", ".join(f"{c[k]} {k}" for k in ("malformed", "foreign", "ignored") if c.get(k))
        out.append(f"{source} {c['received']} events" + (f" ({skipped})" if skipped else ""))
    return out


def _with_problems(line: StatusLine, problems: tuple[str, ...]) -> StatusLine:
    """A failing event source: named on the headline, and at least a warning."""
    if not problems:
        return line
    level: Level = "warn" if line.level == "ok" else line.level
    return replace(line, text=" · ".join((line.text, *problems)), level=level)


def alarm_badge(alarms: AlarmsView | None) -> tuple[str, Level]:
    """'2 unacknowledged of 3 alarms' (error colour while any awaits acknowledgement)."""
    if alarms is None or not alarms.rows:
        return "", "info"
    open_, unack = len(alarms.rows), alarms.unacknowledged
    if not unack:
        return f"{open_} open alarm{'s' if open_ > 1 else ''}, all acknowledged", "info"
    return f"{unack} unacknowledged of {open_} alarm{'s' if open_ > 1 else ''}", "error"


def _alarm_trouble(alarms: AlarmsView | None) -> str:
    """What is wrong with the alarms' plumbing (failing notifications, unwritten events)."""
    if alarms is None:
        return ""
    parts = []
    if alarms.notify.enabled and not alarms.notify.healthy:
        parts.append(f"notifications failing: {', '.join(alarms.notify.failing)}")
    if alarms.append_error:
        parts.append("alarm events not written yet (retrying)")
    return " · ".join(parts)


def format_status(
    status: EngineStatus,
    now: datetime,
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
    alarms: AlarmsView | None = None,
) -> StatusLine:
    """The status line for one engine status at wall-clock time ``now``.

    Precedence: as-of (the user chose the past) > disconnected > connecting >
    stale (connected but no new data for ``stale_after_s``) > connected.  Quarantined
    files add a warning to a connected (or stale) line; values of the wrong type and
    a full reload's reason are in the details.  While live, an event source that fails
    is named on the headline (at least a warning).  The alarm badge comes beside it;
    failing notifications or unwritten alarm events make a connected line a warning
    that names them.
    """
    line = _state_line(status, now, stale_after_s)
    if line.live:
        line = _with_problems(line, status.event_problems)
    badge, badge_level = alarm_badge(alarms)
    trouble = _alarm_trouble(alarms)
    details = line.details
    if alarms is not None and alarms.notify.enabled:
        details = f"{details} · {alarms.notify.summary}" if details else alarms.notify.summary
    if alarms is not None and alarms.append_error:
        details += f" · alarms table: {alarms.append_error}"
    level = line.level
    text = line.text
    if trouble and status.as_of is None:
        text = f"{text} · {trouble}"
        level = "warn" if level == "ok" else level
    return StatusLine(
        line.state, text, details, level, line.banner, badge=badge, badge_level=badge_level
    )


def _state_line(status: EngineStatus, now: datetime, stale_after_s: float) -> StatusLine:
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
