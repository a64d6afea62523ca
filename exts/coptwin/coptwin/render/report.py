"""``coptwin report``: one self-contained HTML page for a briefing.

The snapshot (embedded as a ``data:`` URI), status counts per layer, the sensors in alarm,
warning or offline with their last values and times, the open reviewers' notes and the
Delta versions it reflects. Every table is the engine's snapshot, nothing recomputed;
nothing depends on the wall clock except the time a *live* report shows, so the same
as-of gives the same bytes.
"""

from __future__ import annotations

import base64
from html import escape

from coptwin import __version__
from coptwin.config import STATUSES
from coptwin.model.palette import HEX, LABELS
from coptwin.render.cop import CopState, fmt_time
from coptwin.ui.format import format_value

#: Statuses listed sensor by sensor (the others are only counted).
ATTENTION: tuple[str, ...] = ("alarm", "warn", "offline", "suspect")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;
color:#1d2330;background:#fff;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#5b6472;margin:0 0 16px}
img{max-width:100%;height:auto;border:1px solid #c9ced6}
table{border-collapse:collapse;margin:4px 0}
th,td{border:1px solid #d5d9e0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
#attention td{white-space:nowrap}
#attention td.w{white-space:normal;overflow-wrap:anywhere;min-width:12em}
.sw{display:inline-block;width:11px;height:11px;border-radius:50%;
border:1px solid #333;margin-right:6px;vertical-align:-1px}
.none{color:#5b6472}footer{margin-top:32px;color:#5b6472;font-size:12px}
"""


def report_html(state: CopState, png: bytes) -> str:
    """The page (see module doc) for a COP state and its picture."""
    snap = state.snapshot
    title = state.title()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{escape(state.versions_text())} · scene {escape(state.scene_path)}</p>',
        '<img alt="COP snapshot" src="data:image/png;base64,'
        + base64.b64encode(png).decode("ascii")
        + '">',
        _counts(state),
        _attention(state),
        _notes(state),
        _versions(state),
        f"<footer>coptwin {escape(__version__)} · {len(snap.sensors)} sensors</footer>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _status(status: str) -> str:
    colour = HEX.get(status, HEX["unknown"])
    label = LABELS.get(status, status)
    return f'<span class="sw" style="background:{colour}"></span>{escape(label)}'


def _counts(state: CopState) -> str:
    head = "".join(f"<th>{_status(s)}</th>" for s in STATUSES)
    rows = []
    totals = dict.fromkeys(STATUSES, 0)
    for layer in state.snapshot.layers:
        cells = "".join(f'<td class="n">{layer.counts.get(s, 0)}</td>' for s in STATUSES)
        for s in STATUSES:
            totals[s] += layer.counts.get(s, 0)
        hidden = "" if layer.visible else " (hidden)"
        rows.append(
            f"<tr><td>{escape(layer.label)}{hidden}</td>{cells}"
            f'<td class="n">{layer.total}</td></tr>'
        )
    total_cells = "".join(f'<td class="n">{totals[s]}</td>' for s in STATUSES)
    rows.append(
        f'<tr><th>All layers</th>{total_cells}<td class="n">{sum(totals.values())}</td></tr>'
    )
    return (
        '<h2>Status per layer</h2><table id="counts">'
        f"<tr><th>Layer</th>{head}<th>Total</th></tr>" + "".join(rows) + "</table>"
    )


def _attention(state: CopState) -> str:
    rank = {s: i for i, s in enumerate(STATUSES)}
    rows = sorted(
        (s for s in state.snapshot.sensors if s.status in ATTENTION),
        key=lambda s: (rank[s.status], s.sensor_id),
    )
    header = (
        "<h2>Sensors in alarm, warning or offline</h2>"
        if rows
        else '<h2>Sensors in alarm, warning or offline</h2><p class="none">None.</p>'
    )
    if not rows:
        return header
    body = "".join(
        "<tr>"
        f"<td>{_status(s.status)}</td><td>{escape(s.sensor_id)}</td><td>{escape(s.name)}</td>"
        f"<td>{escape(s.kind)}</td><td>{escape(s.layer)}</td><td>{escape(s.quantity)}</td>"
        f'<td class="n">{escape(format_value(s.value, s.unit))}</td>'
        f'<td>{escape(fmt_time(s.ts))}</td><td class="w">{escape(s.reason)}</td>'
        f'<td class="w">{escape(s.bound_prim)}</td>'
        "</tr>"
        for s in rows
    )
    return (
        header + '<table id="attention"><tr><th>Status</th><th>Sensor</th><th>Name</th>'
        "<th>Kind</th><th>Layer</th><th>Quantity</th><th>Last value</th><th>Last reading</th>"
        "<th>Why</th><th>Building</th></tr>" + body + "</table>"
    )


def _notes(state: CopState) -> str:
    if not state.notes:
        return '<h2>Open notes</h2><p class="none">None.</p>'
    body = "".join(
        "<tr>"
        f"<td>{escape(fmt_time(n.created_at))}</td><td>{escape(n.author)}</td>"
        f"<td>{escape(n.target)}</td><td>{escape(n.text)}</td>"
        f'<td class="n">{n.replies}</td>'
        "</tr>"
        for n in state.notes
    )
    return (
        '<h2>Open notes</h2><table id="notes"><tr><th>Created</th><th>Author</th>'
        "<th>Target</th><th>Note</th><th>Replies</th></tr>" + body + "</table>"
    )


def _versions(state: CopState) -> str:
    st = state.snapshot.status
    rows = "".join(
        f'<tr><td>{escape(name)}</td><td class="n">{version}</td></tr>'
        for name, version in sorted(st.versions.items())
    )
    if st.as_of is None:
        shown = f"live at {fmt_time(state.snapshot.now)}"
    elif isinstance(st.as_of, int):
        shown = f"as of readings version {st.as_of}"
    else:
        shown = f"as of {fmt_time(st.as_of)}"
    return (
        f'<h2>Delta versions</h2><p class="sub">{escape(shown)}</p>'
        f'<table id="versions"><tr><th>Table</th><th>Version</th></tr>{rows}</table>'
    )
