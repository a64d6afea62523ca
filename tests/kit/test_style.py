"""Panel style numbers: colour conversion and one selector per status and level."""

from __future__ import annotations

import pytest

from coptwin.config import STATUSES


@pytest.fixture
def style(kit):
    kit.import_kit()
    from coptwin.kit import style

    return style


def test_abgr_packs_and_clamps(style):
    assert style.abgr((1.0, 0.0, 0.0)) == 0xFF0000FF
    assert style.abgr((0.0, 0.0, 1.0), alpha=0.5) == 0x80FF0000
    assert style.abgr((2.0, -1.0, 0.5)) == 0xFF8000FF


def test_every_status_and_level_has_a_selector(style):
    palette = {"ok": (0.0, 0.62, 0.45)}
    sheet = style.window_style(palette)
    for status in STATUSES:
        assert f"Label::status_{status}" in sheet and f"Rectangle::swatch_{status}" in sheet
    for level in ("ok", "warn", "error", "info"):
        assert f"Label::level_{level}" in sheet
    assert sheet["Label::status_ok"]["color"] == style.abgr((0.0, 0.62, 0.45))
    assert sheet["Label::status_alarm"]["color"] == style.abgr(style.FALLBACK_STATUS_RGB)
    assert len(style.COLUMN_WIDTHS) == 5


def test_note_colours_match_the_pins_in_the_viewport(style):
    from coptwin.scene.pins import PIN_COLOURS

    assert style.NOTE_STATUS_RGB == PIN_COLOURS
    sheet = style.window_style({})
    for status in PIN_COLOURS:
        assert sheet[f"Label::note_{status}"]["color"] == style.abgr(PIN_COLOURS[status])
    assert "Button::toggle_on" in sheet
