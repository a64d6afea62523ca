"""The page's files: vendored from npm as recorded, and nothing loaded from elsewhere."""

from __future__ import annotations

import hashlib
import re

from coptwin.web.app import STATIC

VENDOR = STATIC / "vendor"


def test_every_vendored_file_is_recorded_with_its_hash():
    table = (VENDOR / "VERSIONS.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", table, re.MULTILINE))
    files = {p.relative_to(VENDOR).as_posix(): p for p in VENDOR.rglob("*") if p.is_file()}
    files.pop("VERSIONS.md")
    assert set(rows) == set(files), "VERSIONS.md and vendor/ disagree"
    for name, path in files.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == rows[name], name
    for licence in ("maplibre-gl/LICENSE.txt", "pmtiles/LICENSE", "pmtiles/LICENSE.fflate"):
        assert (VENDOR / licence).stat().st_size > 500


def test_our_page_names_no_other_host():
    ours = [p for p in STATIC.glob("*") if p.is_file()]
    assert {p.suffix for p in ours} == {".html", ".js", ".css"}
    for path in ours:
        text = path.read_text(encoding="utf-8")
        urls = re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE)
        # The SVG namespace is a name, not a download.
        assert [u for u in urls if u != "http://www.w3.org"] == [], (path.name, urls)
        for ref in re.findall(r"""(?:src|href|from|import)\s*\(?\s*["']([^"']+)["']""", text):
            assert ref.startswith(("/static/", "/api/", "data:", "/basemap")), (path.name, ref)
