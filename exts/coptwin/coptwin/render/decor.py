"""The frame around a rendered view: title strip, legend, north arrow and scale bar.

Drawn with Pillow (2D text and shapes) around the VTK picture, never over it, so no
decoration hides a marker. The legend's rows come from :func:`coptwin.model.palette.legend`,
the same table the Kit panel and README use. The north arrow points where the scene's
true north projects on screen, and the scale bar measures horizontal distance across
the picture (views are parallel projections, so it holds everywhere in them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from coptwin.model.palette import PALETTE_SRGB, legend
from coptwin.render.draw import BACKGROUND, OUTLINE, Frame

PANEL = (36, 41, 51)
TEXT = (232, 234, 238)
MUTED = (158, 165, 177)


@dataclass(frozen=True)
class Layout:
    """Where the view sits in the final picture."""

    width: int
    height: int
    title_h: int
    panel_w: int

    @classmethod
    def for_size(cls, width: int, height: int) -> Layout:
        title_h = int(np.clip(round(height * 0.085), 30, 72))
        panel_w = int(np.clip(round(width * 0.2), 112, 300))
        return cls(width, height, title_h, panel_w)

    @property
    def view_size(self) -> tuple[int, int]:
        return self.width - self.panel_w, self.height - self.title_h

    @property
    def view_origin(self) -> tuple[int, int]:
        """Top-left pixel of the view in the picture."""
        return 0, self.title_h


@dataclass
class Legend:
    """What the panel lists: markers per status, and whether pins / tints are shown."""

    counts: dict[str, int] = field(default_factory=dict)
    pins: int = 0
    pin_color: tuple[int, int, int] = (213, 94, 0)
    tinted_buildings: int = 0
    show_statuses: bool = True
    #: Plain lines listed under the legend (e.g. facts about a bare scene).
    lines: list[str] = field(default_factory=list)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, int(size)))


def compose(
    frame: Frame,
    layout: Layout,
    title: str,
    subtitle: str,
    legend_info: Legend,
    north_screen: np.ndarray | None,
) -> Image.Image:
    """The final picture: the view placed in its frame, with every decoration."""
    img = Image.new("RGB", (layout.width, layout.height), BACKGROUND)
    img.paste(Image.fromarray(frame.image), layout.view_origin)
    d = ImageDraw.Draw(img)
    _title(d, layout, title, subtitle)
    x0 = layout.width - layout.panel_w
    d.rectangle([x0, layout.title_h, layout.width, layout.height], fill=PANEL)
    y = _legend(d, layout, legend_info, frame.marker_px)
    _north_and_scale(d, layout, frame, north_screen, y)
    return img


def _title(d: ImageDraw.ImageDraw, layout: Layout, title: str, subtitle: str) -> None:
    d.rectangle([0, 0, layout.width - 1, layout.title_h - 1], fill=PANEL)  # inclusive ends
    big = _font(layout.title_h * 0.36)
    small = _font(layout.title_h * 0.26)
    pad = max(6, layout.title_h // 6)
    d.text((pad, pad * 0.6), _fit(d, title, big, layout.width - 2 * pad), font=big, fill=TEXT)
    d.text(
        (pad, layout.title_h * 0.56),
        _fit(d, subtitle, small, layout.width - 2 * pad),
        font=small,
        fill=MUTED,
    )


def _fit(d: ImageDraw.ImageDraw, text: str, font, width: float) -> str:  # noqa: ANN001
    """``text`` shortened with an ellipsis to fit ``width`` pixels."""
    if d.textlength(text, font=font) <= width:
        return text
    while text and d.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _legend(d: ImageDraw.ImageDraw, layout: Layout, info: Legend, marker_px: int) -> int:
    x0 = layout.width - layout.panel_w
    pad = max(6, layout.panel_w // 14)
    row = max(14, int(min(layout.height * 0.045, layout.panel_w / 6.5)))
    font = _font(row * 0.62)
    y = layout.title_h + pad
    r = max(4, min(marker_px, row - 4) // 2)
    if info.show_statuses:
        for entry in legend():
            cy = y + row // 2
            cx = x0 + pad + r + 2
            d.ellipse([cx - r - 2, cy - r - 2, cx + r + 2, cy + r + 2], fill=OUTLINE)
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=_rgb(PALETTE_SRGB[entry.status]))
            d.text((cx + r + pad, cy), entry.label, font=font, fill=TEXT, anchor="lm")
            n = info.counts.get(entry.status, 0)
            d.text((layout.width - pad, cy), str(n), font=font, fill=TEXT, anchor="rm")
            y += row
    if info.pins:
        cy = y + row // 2
        cx = x0 + pad + r + 2
        d.rectangle([cx - r - 2, cy - r - 2, cx + r + 2, cy + r + 2], fill=OUTLINE)
        d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=info.pin_color)
        d.text((cx + r + pad, cy), "Open note", font=font, fill=TEXT, anchor="lm")
        d.text((layout.width - pad, cy), str(info.pins), font=font, fill=TEXT, anchor="rm")
        y += row
    lines = list(info.lines)
    if info.tinted_buildings:
        lines += ["Buildings tinted by", "their worst sensor"]
    small = _font(min(row * 0.55, layout.panel_w / 11))
    if lines:
        y += row // 3
    for line in lines:
        d.text(
            (x0 + pad, y), _fit(d, line, small, layout.panel_w - 2 * pad), font=small, fill=MUTED
        )
        y += int(row * 0.7)
    return y


def _north_and_scale(
    d: ImageDraw.ImageDraw, layout: Layout, frame: Frame, north: np.ndarray | None, top: int
) -> None:
    x0 = layout.width - layout.panel_w
    pad = max(6, layout.panel_w // 14)
    font = _font(max(10, layout.height * 0.028))
    inner = layout.panel_w - 2 * pad
    # scale bar at the bottom
    mpp = frame.camera.metres_per_pixel(frame.size[1])
    metres, px = nice_length(inner * 0.8 * mpp, mpp)
    by = layout.height - pad - 4
    bx = x0 + pad
    h = 5
    d.rectangle([bx, by - h, bx + px, by], fill=TEXT)
    d.rectangle([bx + px // 2, by - h + 1, bx + px - 1, by - 1], fill=PANEL)
    d.text((bx, by - h - 3), f"{format_metres(metres)}", font=font, fill=TEXT, anchor="ld")
    # north arrow above it
    space_top, space_bottom = top + pad, by - h - 3 - font.size - pad
    radius = int(min(inner / 2, (space_bottom - space_top) / 2, layout.height * 0.07))
    if radius < 8:
        return
    cx, cy = x0 + layout.panel_w // 2, space_bottom - radius
    if north is None:
        d.text((cx, cy), "north unknown\n(no georeference)", font=font, fill=MUTED, anchor="mm")
        return
    v = np.asarray(north, dtype=np.float64)
    v = v / (np.linalg.norm(v) or 1.0)
    side = np.array([-v[1], v[0]])
    c = np.array([cx, cy], dtype=np.float64)
    tip, tail = c + v * radius * 0.8, c - v * radius * 0.55
    left, right = c + side * radius * 0.32, c - side * radius * 0.32
    d.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], outline=MUTED, width=1)
    d.polygon([tuple(tip), tuple(left), tuple(tail)], fill=TEXT)
    d.polygon([tuple(tip), tuple(right), tuple(tail)], fill=MUTED)
    label = c + v * (radius + font.size * 0.75)
    d.text(tuple(label), "N", font=font, fill=TEXT, anchor="mm")


def nice_length(max_metres: float, metres_per_pixel: float) -> tuple[float, int]:
    """The longest 1-2-5 length up to ``max_metres`` and its length in pixels."""
    if not (max_metres > 0 and math.isfinite(max_metres)):
        return 1.0, 1
    exp = math.floor(math.log10(max_metres))
    best = 10.0**exp
    for step in (1, 2, 5, 10):
        if step * 10.0**exp <= max_metres:
            best = step * 10.0**exp
    return best, max(1, round(best / metres_per_pixel))


def format_metres(m: float) -> str:
    return f"{m / 1000:g} km" if m >= 1000 else f"{m:g} m"


def _rgb(c: tuple[float, float, float]) -> tuple[int, int, int]:
    r, g, b = (round(v * 255) for v in c)
    return (r, g, b)
