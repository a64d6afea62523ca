"""Status colours: the Okabe–Ito palette, safe for colour-blind viewers.

Okabe & Ito (2008) chose eight colours that stay distinguishable under the
common colour-vision deficiencies; each status gets one of them (and the
legend always pairs colour with a word, never colour alone).

Colour spaces: the hex codes are sRGB (what the web, README and UI swatches
show).  :data:`PALETTE` holds the same colours **linearised** (sRGB transfer
function removed, Rec.709 primaries kept), because USD's default colour space
for ``primvars:displayColor`` is linear Rec.709 (``lin_rec709_scene``) and a
renderer applies the display transform itself; writing sRGB values there would
make markers look washed out.  UI toolkits that expect sRGB (omni.ui) use
:data:`PALETTE_SRGB`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coptwin.config import STATUSES

RGB = tuple[float, float, float]

#: sRGB hex per status (Okabe–Ito; grey for "unknown").
HEX: dict[str, str] = {
    "alarm": "#D55E00",  # vermillion
    "warn": "#F0E442",  # yellow
    "offline": "#CC79A7",  # reddish purple
    "suspect": "#0072B2",  # blue
    "stale": "#56B4E9",  # sky blue
    "ok": "#009E73",  # bluish green
    "unknown": "#999999",  # grey
}

LABELS: dict[str, str] = {
    "alarm": "Alarm",
    "warn": "Warning",
    "offline": "Offline",
    "suspect": "Suspect",
    "stale": "Stale",
    "ok": "OK",
    "unknown": "Unknown",
}

DESCRIPTIONS: dict[str, str] = {
    "alarm": "reading beyond an alarm threshold",
    "warn": "reading beyond a warning threshold, or an event is active",
    "offline": "device reports offline, or silent longer than offline_after_s",
    "suspect": "bad data: outside its physical range, a flat line, or a jump faster than "
    "the rate-of-change limit",
    "stale": "no reading for longer than stale_after_s",
    "ok": "reporting and within limits",
    "unknown": "no reading yet, or a value the rules do not recognise",
}

#: Emoji swatches for plain-text/markdown legends (closest of the basic squares).
_SWATCH: dict[str, str] = {
    "alarm": "🟥",
    "warn": "🟨",
    "offline": "🟪",
    "suspect": "🔷",
    "stale": "🟦",
    "ok": "🟩",
    "unknown": "⬜",
}


def hex_to_srgb(code: str) -> RGB:
    """``"#RRGGBB"`` -> sRGB floats 0..1."""
    code = code.lstrip("#")
    if len(code) != 6:
        raise ValueError(f"expected a colour like '#RRGGBB', got {code!r}")
    r, g, b = (int(code[i : i + 2], 16) / 255.0 for i in (0, 2, 4))
    return (r, g, b)


def srgb_to_linear(c: float) -> float:
    """sRGB-encoded component -> linear light (IEC 61966-2-1)."""
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def linear_to_srgb(c: float) -> float:
    """Linear light -> sRGB-encoded component (inverse of :func:`srgb_to_linear`)."""
    return c * 12.92 if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055


#: sRGB floats per status (for UI swatches).
PALETTE_SRGB: dict[str, RGB] = {s: hex_to_srgb(h) for s, h in HEX.items()}

#: Linear Rec.709 floats per status (for USD ``primvars:displayColor``).
PALETTE: dict[str, RGB] = {
    s: (srgb_to_linear(r), srgb_to_linear(g), srgb_to_linear(b))
    for s, (r, g, b) in PALETTE_SRGB.items()
}

_ORDER = {s: i for i, s in enumerate(STATUSES)}
_LINEAR_ARRAY = np.array([PALETTE[s] for s in STATUSES], dtype=np.float32)


def color(status: str) -> RGB:
    """Linear colour of a status; unknown status names get the "unknown" grey."""
    return PALETTE.get(status, PALETTE["unknown"])


def color_array(statuses: Sequence[str]) -> np.ndarray:
    """``(N, 3)`` float32 linear colours for many statuses (for PointInstancer
    primvars), without a Python-level colour lookup per marker."""
    codes = np.fromiter(
        (_ORDER.get(s, _ORDER["unknown"]) for s in statuses), dtype=np.int64, count=len(statuses)
    )
    return _LINEAR_ARRAY[codes]


@dataclass(frozen=True)
class LegendEntry:
    """One legend row: the UI panel and the README render the same list."""

    status: str
    label: str
    #: Linear RGB, as written to USD.
    color: RGB
    #: sRGB hex, as shown on screens and in documents.
    hex: str
    description: str = ""

    @property
    def srgb(self) -> RGB:
        return PALETTE_SRGB[self.status]


def legend() -> list[LegendEntry]:
    """All statuses in severity order (``config.STATUSES``)."""
    return [LegendEntry(s, LABELS[s], PALETTE[s], HEX[s], DESCRIPTIONS[s]) for s in STATUSES]


def legend_markdown() -> str:
    """A Markdown table of the legend for README and docs."""
    lines = [
        "| | Status | Colour (sRGB) | Meaning |",
        "|---|---|---|---|",
    ]
    for e in legend():
        lines.append(f"| {_SWATCH[e.status]} | **{e.label}** | `{e.hex}` | {e.description} |")
    return "\n".join(lines) + "\n"
