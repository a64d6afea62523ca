"""A PNG of a scene, or of the COP on it: ``coptwin snapshot``.

:func:`render_cop` draws what the engine shows (buildings shaded, bound buildings tinted
by their worst status, markers in status colours at their placed positions, open-note
pins) with a title (time, Delta versions), the palette's legend, a north arrow and a
scale bar; :func:`render_bare` draws a scene with no config. Both return a
:class:`Picture` that knows where every marker landed (tests check the colours there).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from coptwin.model.palette import PALETTE_SRGB
from coptwin.render.camera import SENSOR_RADIUS_M, Camera, View, box_corners, fit, look_direction
from coptwin.render.cop import CopState
from coptwin.render.decor import Layout, Legend, compose
from coptwin.render.draw import Frame, Layer, draw
from coptwin.render.georef import Found, north_local
from coptwin.render.scene_mesh import RenderScene

BUILDING = np.array([206, 202, 193], dtype=np.float64)
TERRAIN = np.array([108, 118, 104], dtype=np.float64)
#: How much of a bound building's colour is its status colour: strong for statuses that
#: need attention, light for "ok"/"unknown" so the city does not drown in green.
TINT = {
    "alarm": 0.75,
    "warn": 0.75,
    "offline": 0.75,
    "suspect": 0.7,
    "stale": 0.65,
    "ok": 0.3,
    "unknown": 0.2,
}
PIN_COLOR = (213, 94, 0)
OBLIQUE = View()
#: Metres of context a building view keeps around the building.
BUILDING_MARGIN_M = 3.0


@dataclass
class Picture:
    """The final picture and how it was made."""

    image: Any  # PIL.Image.Image
    frame: Frame
    layout: Layout
    #: Sensor ids and render-frame positions of the markers drawn, aligned.
    marker_ids: list[str] = field(default_factory=list)
    marker_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    marker_status: list[str] = field(default_factory=list)
    #: The COP drawn (None for a bare scene).
    state: CopState | None = None

    def project(self, render_points: np.ndarray) -> np.ndarray:
        """Render-frame points -> pixel (x, y) in the final picture."""
        ox, oy = self.layout.view_origin
        return self.frame.project(render_points) + np.array([ox, oy], dtype=np.float64)

    def marker_pixels(self) -> np.ndarray:
        return self.project(self.marker_points)

    def png(self) -> bytes:
        buf = io.BytesIO()
        self.image.save(buf, format="PNG")
        return buf.getvalue()

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.png())


def status_rgb(status: str) -> tuple[int, int, int]:
    r, g, b = PALETTE_SRGB.get(status, PALETTE_SRGB["unknown"])
    return (round(r * 255), round(g * 255), round(b * 255))


def render_bare(
    scene: RenderScene,
    found: Found,
    *,
    view: View = OBLIQUE,
    size: tuple[int, int] = (1280, 720),
    title: str = "",
) -> Picture:
    """A scene with no COP: buildings and terrain, legend-free panel, north, scale."""
    if view.kind == "sensor":
        raise ValueError("--view sensor:ID needs a COP (--config); a bare scene has no sensors")
    subtitle = (
        f"{len(scene.buildings)} buildings · {scene.stats.triangles:,} triangles · "
        f"georeference: {found.describe()}"
    )
    return _render(
        scene,
        found,
        view=view,
        size=size,
        title=title or "Scene",
        subtitle=subtitle,
        tints={},
        markers=([], np.zeros((0, 3)), []),
        pins=np.zeros((0, 3)),
        legend_info=Legend(
            show_statuses=False,
            lines=[
                f"{len(scene.buildings)} buildings",
                f"{scene.stats.triangles:,} triangles",
                f"{scene.stats.instances:,} instances",
                f"{scene.up_axis}-up, {scene.meters_per_unit:g} m per unit",
            ],
        ),
    )


def render_cop(
    scene: RenderScene,
    found: Found,
    state: CopState,
    *,
    view: View = OBLIQUE,
    size: tuple[int, int] = (1280, 720),
) -> Picture:
    """The COP as the engine shows it (module doc)."""
    sensors = state.shown_sensors()
    ids = [s.sensor_id for s in sensors]
    stage_pos = np.array([s.position for s in sensors], dtype=np.float64).reshape(-1, 3)
    pts = scene.stage_to_render(stage_pos)
    statuses = [s.status for s in sensors]
    tints: dict[int, str] = {}
    for path, status in state.worst_by_building().items():
        b = building_for_path(scene, path)
        if b is not None:
            tints[b.index] = status
    pin_stage = [n.position for n in state.notes if n.position is not None]
    pins = scene.stage_to_render(np.array(pin_stage, dtype=np.float64).reshape(-1, 3))
    counts: dict[str, int] = {}
    for st in statuses:
        counts[st] = counts.get(st, 0) + 1
    name = Path(state.scene_path).name
    subtitle = f"{state.versions_text()} · {len(sensors)} sensors shown · {name}"
    if view.kind == "sensor" and view.target in ids:
        s = sensors[ids.index(view.target)]
        subtitle = f"sensor {s.sensor_id} ({s.name}, {s.status}) · {subtitle}"
    elif view.kind == "building":
        subtitle = f"building {view.target} · {subtitle}"
    return _render(
        scene,
        found,
        view=view,
        size=size,
        title=state.title(),
        subtitle=subtitle,
        tints=tints,
        markers=(ids, pts, statuses),
        pins=pins,
        legend_info=Legend(counts=counts, pins=len(pin_stage), tinted_buildings=len(tints)),
    )


def building_for_path(scene: RenderScene, path: str) -> Any:
    """The building at ``path`` or containing it (a binding may name a leaf below it)."""
    by_path = {b.path: b for b in scene.buildings}
    p = path.rstrip("/")
    while p:
        if p in by_path:
            return by_path[p]
        p = p.rsplit("/", 1)[0]
    return None


def _render(
    scene: RenderScene,
    found: Found,
    *,
    view: View,
    size: tuple[int, int],
    title: str,
    subtitle: str,
    tints: dict[int, str],
    markers: tuple[list[str], np.ndarray, list[str]],
    pins: np.ndarray,
    legend_info: Legend,
) -> Picture:
    layout = Layout.for_size(*size)
    vw, vh = layout.view_size
    ids, pts, statuses = markers
    centre = (scene.lo.astype(np.float64) + scene.hi.astype(np.float64)) / 2.0
    north = north_local(found.frame, centre + scene.origin)
    north_xy = north if north is not None else np.array([0.0, 1.0])
    camera = frame_view(view, scene, ids, pts, north_xy, vw / vh)
    colors = triangle_colors(scene, tints)
    sun = _sun(north_xy)
    marker_layer = Layer(pts, np.array([status_rgb(s) for s in statuses], dtype=np.uint8))
    pin_layer = Layer(pins, np.tile(PIN_COLOR, (pins.shape[0], 1)))
    frame = draw(
        scene.points,
        scene.tris,
        colors,
        camera,
        (vw, vh),
        markers=marker_layer,
        pins=pin_layer,
        sun=sun,
    )
    north_screen = None
    if north is not None:
        a, b = frame.project(np.array([centre, centre + np.r_[north, 0.0] * 10.0]))
        north_screen = b - a
    legend_info.pin_color = PIN_COLOR
    image = compose(frame, layout, title, subtitle, legend_info, north_screen)
    return Picture(image, frame, layout, list(ids), pts, list(statuses))


def triangle_colors(scene: RenderScene, tints: dict[int, str]) -> np.ndarray:
    """One sRGB colour per triangle: terrain, buildings, tinted bound buildings."""
    palette = np.tile(BUILDING, (len(scene.buildings) + 1, 1))
    palette[-1] = TERRAIN  # index -1
    for index, status in tints.items():
        k = TINT.get(status, TINT["unknown"])
        palette[index] = k * np.array(status_rgb(status)) + (1.0 - k) * BUILDING
    return np.round(palette[scene.owner]).astype(np.uint8)


def frame_view(
    view: View,
    scene: RenderScene,
    ids: list[str],
    pts: np.ndarray,
    north: np.ndarray,
    aspect: float,
) -> Camera:
    """The camera of a view (see :mod:`coptwin.render.camera`)."""
    direction, up = look_direction(view.kind, north)
    if view.kind == "building":
        b = scene.find_building(view.target)
        if b is None:
            sample = ", ".join(str(x.object_id or x.path) for x in scene.buildings[:5])
            raise ValueError(
                f"--view building:{view.target}: no such building "
                f"({len(scene.buildings)} buildings, e.g. {sample})"
            )
        lo = scene.building_lo[b.index] - BUILDING_MARGIN_M
        hi = scene.building_hi[b.index] + BUILDING_MARGIN_M
        return fit(box_corners(lo, hi), direction, up, aspect)
    if view.kind == "sensor":
        if view.target not in ids:
            raise ValueError(f"--view sensor:{view.target}: no such sensor with a position shown")
        p = pts[ids.index(view.target)]
        r = np.array([SENSOR_RADIUS_M, SENSOR_RADIUS_M, SENSOR_RADIUS_M / 2])
        return fit(box_corners(p - r, p + r), direction, up, aspect)
    content = box_corners(scene.building_lo, scene.building_hi)
    if content.shape[0] == 0:
        content = box_corners(scene.lo, scene.hi)
    if pts.shape[0]:
        content = np.vstack([content, pts[np.isfinite(pts).all(axis=1)]])
    return fit(content, direction, up, aspect)


def _sun(north: np.ndarray) -> np.ndarray:
    """Light from the south-west (relative to north), 50 degrees high."""
    n = np.array([north[0], north[1], 0.0])
    e = np.array([north[1], -north[0], 0.0])
    horizontal = -(0.55 * e + 0.83 * n)
    return horizontal + np.array([0.0, 0.0, 1.2])


def scene_picture(
    path: Path, *, view: View = OBLIQUE, size: tuple[int, int] = (1280, 720)
) -> Picture:
    """``coptwin snapshot --scene``: a bare scene, georeferenced by its sidecar if any."""
    from coptwin.config import SceneConfig
    from coptwin.render.georef import discover
    from coptwin.render.scene_mesh import load_scene, open_stage

    stage = open_stage(path)
    found = discover(stage, Path(path), None)
    scene = load_scene(stage, object_id_attribute=SceneConfig().object_id_attribute)
    return render_bare(scene, found, view=view, size=size, title=f"Scene {Path(path).name}")


def cop_picture(
    engine: Any, *, view: View = OBLIQUE, size: tuple[int, int] = (1280, 720)
) -> Picture:
    """The COP an opened engine shows now, drawn over the engine's own stage."""
    from coptwin.render.cop import read_state
    from coptwin.render.georef import discover
    from coptwin.render.scene_mesh import load_scene

    state = read_state(engine)
    cfg = engine.config
    found = discover(engine.stage, Path(state.scene_path), cfg.scene)
    scene = load_scene(
        engine.stage,
        skip_root=cfg.scene.overlay_root,
        object_id_attribute=cfg.scene.object_id_attribute,
    )
    picture = render_cop(scene, found, state, view=view, size=size)
    picture.state = state
    return picture
