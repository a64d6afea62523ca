"""``coptwin report``: one self-contained page whose tables are the engine's snapshot."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser

from PIL import Image

from coptwin.cli import main
from coptwin.config import STATUSES
from coptwin.engine.engine import Engine
from coptwin.model.palette import LABELS
from coptwin.ui.format import format_value


class Tables(HTMLParser):
    """Cell texts of every ``<table id=...>`` and the ``src`` of every image."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self.links: list[str] = []
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(a.get("id", f"t{len(self.tables)}"), [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(a["src"])
        elif tag in ("link", "script") or (tag == "a" and "href" in a):
            self.links.append(tag)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def report(cop, out, *extra: str) -> str:
    args = ["report", "--config", str(cop.root / "cop.toml"), "--size", "320x240"]
    assert main([*args, *extra, "--out", str(out)]) == 0
    return out.read_text(encoding="utf-8")


def snapshot_as_of(cop, as_of):
    engine = Engine(cop.config)
    engine.open()
    engine.tick()
    engine.set_as_of(as_of)
    try:
        return engine.snapshot()
    finally:
        engine.close()


def test_tables_match_the_engine_snapshot_for_the_same_as_of(cop, tmp_path):
    html = report(cop, tmp_path / "r.html", "--as-of", "1")
    page = Tables(html)
    snap = snapshot_as_of(cop, 1)
    assert snap.status.versions["readings"] == 1
    # Counts per layer, row by row, status by status.
    counts = page.tables["counts"]
    assert counts[0] == ["Layer", *(LABELS[s] for s in STATUSES), "Total"]
    body = counts[1:-1]
    assert [r[0] for r in body] == [layer.label for layer in snap.layers]
    for row, layer in zip(body, snap.layers, strict=True):
        assert [int(v) for v in row[1:-1]] == [layer.counts.get(s, 0) for s in STATUSES]
        assert int(row[-1]) == layer.total
    assert int(counts[-1][-1]) == len(snap.sensors)
    # Every sensor in alarm, warning or offline, with its value and time, and no other.
    rows = page.tables["attention"][1:]
    want = sorted(
        (s for s in snap.sensors if s.status in ("alarm", "warn", "offline")),
        key=lambda s: (STATUSES.index(s.status), s.sensor_id),
    )
    assert [r[1] for r in rows] == [s.sensor_id for s in want]
    assert [r[0] for r in rows] == [LABELS[s.status] for s in want]
    for r, s in zip(rows, want, strict=True):
        assert r[6] == format_value(s.value, s.unit)  # in the panel's and the page's words
        assert r[7] == s.ts.strftime("%Y-%m-%d %H:%M:%S UTC")
        assert r[8] == s.reason and s.reason  # why it has its status
        assert r[9] == s.bound_prim
    assert {s.status for s in want} == {"alarm", "warn", "offline"}
    # The Delta versions shown.
    versions = {r[0]: int(r[1]) for r in page.tables["versions"][1:]}
    assert versions == snap.status.versions
    assert "<h1>COP as of readings version 1</h1>" in html


def test_same_as_of_gives_the_same_report_and_it_is_self_contained(cop, tmp_path):
    first = report(cop, tmp_path / "a.html", "--as-of", "1")
    second = report(cop, tmp_path / "b.html", "--as-of", "1")
    assert first == second
    other = report(cop, tmp_path / "c.html", "--as-of", "0")
    assert other != first  # version 0 has no camera readings yet
    page = Tables(first)
    assert page.links == [], "no external resources"
    assert len(page.images) == 1 and page.images[0].startswith("data:image/png;base64,")
    png = base64.b64decode(page.images[0].split(",", 1)[1])
    assert Image.open(io.BytesIO(png)).size == (320, 240)


def test_open_notes_are_listed_escaped_and_resolved_ones_are_not(cop, tmp_path):
    from coptwin.annotations.store import AnnotationStore

    store = AnnotationStore.from_config(cop.config)
    sensor = next(iter(cop.expected))
    note = store.add(f"sensor:{sensor}", "<script>alert('x')</script> check the seal", "ana")
    done = store.add(f"sensor:{sensor}", "old news", "bo")
    store.resolve(done.annotation_id, "bo")
    html = report(cop, tmp_path / "n.html", "--as-of", "2026-11-27T12:00:00Z")
    assert "<script>" not in html and "&lt;script&gt;" in html
    rows = Tables(html).tables["notes"][1:]
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("ana", f"sensor:{sensor}", "<script>alert('x')</script> check the seal")
    ]
    assert note.annotation_id
    assert "<h1>COP as of 2026-11-27 12:00:00 UTC</h1>" in html


def test_a_version_the_table_does_not_have_is_one_line(cop, tmp_path, capsys):
    args = ["report", "--config", str(cop.root / "cop.toml"), "--as-of", "99"]
    assert main([*args, "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("coptwin report: error:") and len(err.splitlines()) == 1
    assert not (tmp_path / "r.html").exists()
