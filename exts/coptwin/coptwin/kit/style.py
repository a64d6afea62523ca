"""Colours and sizes of the coptwin panel, apart from layout code.

omni.ui colours are 0xAABBGGRR integers; status colours come from the core
palette (colour-blind safe) so the panel, the markers and the legend always
agree.  Nothing here imports omni, so the numbers are testable without Kit.
"""

from __future__ import annotations

from ..config import STATUSES
from ..model.palette import RGB

#: Layout sizes in pixels.
WINDOW_WIDTH = 480
WINDOW_HEIGHT = 760
SPACING = 4
LABEL_WIDTH = 110
ROW_HEIGHT = 22
PLOT_HEIGHT = 80
LEGEND_SWATCH = 12
#: Sensors table column widths (name, kind, value, status, age); fractions are ui.Fraction.
COLUMN_WIDTHS = (2.0, 1.2, 1.2, 0.9, 1.0)
#: Notes section: list height, indent per reply level, note text field height, button width.
NOTES_LIST_HEIGHT = 220
NOTE_INDENT = 16
NOTE_FIELD_HEIGHT = 44
NOTE_BUTTON_WIDTH = 64
#: Alarms section: list height and button width.
ALARMS_LIST_HEIGHT = 200
ALARM_BUTTON_WIDTH = 72

#: Used when the core palette is unavailable.
FALLBACK_STATUS_RGB: RGB = (0.6, 0.6, 0.6)


def abgr(rgb: RGB, alpha: float = 1.0) -> int:
    """(r, g, b) floats 0..1 -> omni.ui's 0xAABBGGRR integer."""
    r, g, b = (max(0, min(255, round(c * 255))) for c in rgb)
    a = max(0, min(255, round(alpha * 255)))
    return (a << 24) | (b << 16) | (g << 8) | r


TEXT = 0xFFCCCCCC
TEXT_DIM = 0xFF8A8A8A
LEVEL_COLORS: dict[str, int] = {
    "ok": abgr((0.0, 0.62, 0.45)),
    "warn": abgr((0.90, 0.62, 0.0)),
    "error": abgr((0.84, 0.37, 0.0)),
    "info": abgr((0.34, 0.71, 0.91)),
}
BANNER_BACKGROUND = abgr((0.90, 0.62, 0.0), 0.9)
BANNER_TEXT = 0xFF000000
#: Note status colours, the same as the pins in the viewport (coptwin.scene.pins.PIN_COLOURS:
#: Okabe-Ito vermillion for open, grey for resolved), repeated here to keep style import-light.
NOTE_STATUS_RGB: dict[str, RGB] = {"open": (0.835, 0.369, 0.0), "resolved": (0.6, 0.6, 0.6)}
#: Background of the filter/scope button that is switched on.
TOGGLE_ON_BACKGROUND = abgr((0.34, 0.71, 0.91), 0.45)


def window_style(palette: dict[str, RGB] | None = None) -> dict[str, dict[str, object]]:
    """The omni.ui style dictionary of the panel (selectors by widget name)."""
    palette = palette or {}
    style: dict[str, dict[str, object]] = {
        "Label": {"color": TEXT},
        "Label::dim": {"color": TEXT_DIM},
        "Label::section": {"color": TEXT, "font_size": 16},
        "Label::error": {"color": LEVEL_COLORS["error"]},
        "Label::banner": {"color": BANNER_TEXT, "font_size": 15, "margin": 4},
        "Rectangle::banner": {"background_color": BANNER_BACKGROUND, "border_radius": 3},
        "Button::header": {"margin": 0, "padding": 2},
        "Plot": {"color": LEVEL_COLORS["info"], "background_color": 0xFF202020},
        "Button::toggle_on": {"background_color": TOGGLE_ON_BACKGROUND},
        "Label::note_text": {"color": TEXT},
        "Rectangle::note_focused": {"background_color": TOGGLE_ON_BACKGROUND, "border_radius": 2},
        # an alarm awaiting acknowledgement stands out in the list as its ring does outside
        "Rectangle::alarm_unack": {"background_color": abgr((0.84, 0.37, 0.0), 0.28)},
        "Label::alarm_unack": {"color": LEVEL_COLORS["error"]},
        "Label::badge_error": {"color": 0xFFFFFFFF, "background_color": LEVEL_COLORS["error"]},
        "Label::badge_info": {"color": LEVEL_COLORS["info"]},
    }
    for status, rgb in NOTE_STATUS_RGB.items():
        style[f"Label::note_{status}"] = {"color": abgr(rgb)}
    for level, colour in LEVEL_COLORS.items():
        style[f"Label::level_{level}"] = {"color": colour}
    for status in STATUSES:
        colour = abgr(palette.get(status, FALLBACK_STATUS_RGB))
        style[f"Label::status_{status}"] = {"color": colour}
        style[f"Rectangle::swatch_{status}"] = {"background_color": colour}
    return style
