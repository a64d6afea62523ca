"""Plain-text summary of a COP run, printed by ``coptwin demo`` and ``coptwin run``."""

from __future__ import annotations

from coptwin.config import STATUSES
from coptwin.engine.health import data_notes
from coptwin.engine.snapshot import EngineSnapshot
from coptwin.engine.stats import RunningStats


def summary_dict(snapshot: EngineSnapshot, running: RunningStats) -> dict[str, object]:
    """The figures of a run as plain data (also used by tests and --json)."""
    per_layer = {layer.name: dict(layer.counts) for layer in snapshot.layers}
    statuses: dict[str, int] = {}
    for layer in snapshot.layers:
        for st, n in layer.counts.items():
            statuses[st] = statuses.get(st, 0) + n
    fallback = sum(1 for s in snapshot.sensors if s.placement != "exact")
    return {
        "sensors": len(snapshot.sensors),
        "layers": per_layer,
        "statuses": statuses,
        "placement_fallback": fallback,
        "versions": dict(snapshot.status.versions),
        "versions_applied": running.versions_applied,
        "ticks": running.ticks,
        "rows_read": running.rows_read,
        "rows_applied": running.rows_applied,
        "rows_skipped": dict(running.skipped),
        "tick_ms_p50": running.percentile(50),
        "tick_ms_p95": running.percentile(95),
        "connection": snapshot.status.connection,
        "reason": snapshot.status.reason,
        "quarantined_files": snapshot.status.quarantined_files,
        "quarantined_rows": snapshot.status.quarantined_rows,
        "uncast": dict(snapshot.status.uncast),
        "last_reload": snapshot.status.last_reload,
        "events": {
            "sources": list(snapshot.status.event_sources),
            "problems": list(snapshot.status.event_problems),
            "counts": dict(snapshot.status.event_counts),
        },
    }


def format_summary(snapshot: EngineSnapshot, running: RunningStats) -> str:
    d = summary_dict(snapshot, running)
    order = [s for s in STATUSES if s in d["statuses"]]  # type: ignore[operator]
    width = max((len(name) for name in d["layers"]), default=5) + 2  # type: ignore[arg-type]
    lines = [f"{'layer':<{width}}" + "".join(f"{s:>9}" for s in order) + f"{'total':>9}"]
    for name, counts in d["layers"].items():  # type: ignore[union-attr]
        lines.append(
            f"{name:<{width}}"
            + "".join(f"{counts.get(s, 0):>9}" for s in order)
            + f"{sum(counts.values()):>9}"
        )
    p50, p95 = d["tick_ms_p50"], d["tick_ms_p95"]
    skipped = d["rows_skipped"] or {}
    as_of = snapshot.status.as_of
    lines += [
        "",
        *(
            [f"NOT LIVE: the COP as of {'version ' if isinstance(as_of, int) else ''}{as_of}"]
            if as_of is not None
            else []
        ),
        f"sensors: {d['sensors']} ({d['placement_fallback']} placed by fallback)",
        f"delta versions applied: {d['versions_applied']} (now at {d['versions']})",
        f"rows read: {d['rows_read']}, applied: {d['rows_applied']}, "
        f"skipped: {sum(skipped.values())} {skipped if skipped else ''}".rstrip(),
        "tick time: "
        + (f"median {p50:.1f} ms, p95 {p95:.1f} ms" if p50 is not None else "no ticks with data")
        + f" over {d['ticks']} ticks",
        *data_notes(snapshot.status),
    ]
    if snapshot.status.connection != "connected":
        lines.append(f"{snapshot.status.connection}: {snapshot.status.reason or 'no read yet'}")
    lines += _event_lines(snapshot)
    return "\n".join(lines)


def _event_lines(snapshot: EngineSnapshot) -> list[str]:
    """Event sources in use, what each received and skipped, and any that failed."""
    status = snapshot.status
    if not status.event_sources:
        return []  # --once and --as-of run no sources
    lines = [f"events: {', '.join(status.event_sources)}"]
    for source, c in status.event_counts.items():
        if source == "polling":
            continue  # polling receives nothing; its hints are the ticks above
        lines.append(
            f"  {source}: {c['received']} received, {c['hints']} hints, "
            f"{c['malformed']} malformed, {c['foreign']} foreign, {c['ignored']} ignored"
        )
    lines += [f"  FAILED {p}" for p in status.event_problems]
    return lines
