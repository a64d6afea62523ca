"""Pictures of the COP and of bare scenes, checked pixel by pixel where it matters."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from coptwin.cli import main
from coptwin.render.camera import View
from coptwin.render.draw import BACKGROUND
from coptwin.render.snapshot import cop_picture, scene_picture, status_rgb

from .conftest import digest, scene_path

SIZE = (480, 360)


def building_like(pixels: np.ndarray) -> np.ndarray:
    """Lit building grey (R >= G, bright), not the green terrain or the dark background."""
    p = pixels.astype(int)
    r, g, b = p[..., 0], p[..., 1], p[..., 2]
    return (r >= g - 2) & (r > 95) & (abs(r - b) < 40)


def separated(px: np.ndarray, colors: list[tuple[int, int, int]], k: int, radius: float) -> bool:
    """No marker of another colour lands within ``radius`` pixels of marker ``k``."""
    d = np.hypot(*(px - px[k]).T)
    return all(colors[j] == colors[k] for j in np.flatnonzero(d < radius) if j != k)


@pytest.mark.parametrize("view", ["top", "oblique"])
def test_each_status_colour_is_at_its_markers_projected_pixel(cop, view):
    before = digest(cop.city_dir)
    engine = cop.engine()
    try:
        picture = cop_picture(engine, view=View.parse(view), size=SIZE)
        snap = {s.sensor_id: s for s in engine.snapshot().sensors}
    finally:
        engine.close()
    img = np.asarray(picture.image)
    assert img.shape == (SIZE[1], SIZE[0], 3)
    for sid, status in cop.expected.items():
        assert snap[sid].status == status, (sid, snap[sid].status)
    px = picture.marker_pixels()
    colors = [status_rgb(s) for s in picture.marker_status]
    radius = picture.frame.marker_px * 1.3
    checked: dict[str, int] = {}
    for k, (sid, status) in enumerate(zip(picture.marker_ids, picture.marker_status, strict=True)):
        assert status == snap[sid].status
        if not separated(px, colors, k, radius):
            continue  # another status's marker is drawn over this one
        x, y = (int(v) for v in px[k])
        got = img[y, x].astype(int)
        want = np.array(status_rgb(status))
        assert np.abs(got - want).max() <= 3, (sid, status, (x, y), got, want)
        checked[status] = checked.get(status, 0) + 1
    assert set(cop.expected.values()) <= set(checked), checked
    # Buildings are drawn: building-grey (or tinted) pixels cover a good part of the view.
    ox, oy = picture.layout.view_origin
    vw, vh = picture.layout.view_size
    view_px = img[oy : oy + vh, ox : ox + vw]
    not_bg = np.abs(view_px.astype(int) - np.array(BACKGROUND)).max(axis=2) > 10
    assert building_like(view_px).mean() > 0.03
    assert not_bg.mean() > 0.5
    assert digest(cop.city_dir) == before, "the base scene was written"


def test_alarm_building_is_tinted_and_title_names_time_and_versions(cop):
    engine = cop.engine()
    try:
        picture = cop_picture(engine, view=View("top"), size=SIZE)
    finally:
        engine.close()
    state = picture.state
    assert state.title() == "COP live at 2026-11-27 12:00:05 UTC"
    assert "readings v1" in state.versions_text()
    alarm = [sid for sid, st in cop.expected.items() if st == "alarm"][0]
    snap = {s.sensor_id: s for s in state.snapshot.sensors}
    assert state.worst_by_building()[snap[alarm].bound_prim] == "alarm"
    img = np.asarray(picture.image).astype(int)
    vermillion = np.array(status_rgb("alarm"))
    tinted = (np.abs(img - vermillion) < 60).all(axis=2).sum()
    assert tinted > 4 * picture.frame.marker_px**2, "the alarm building is tinted"


def test_sensor_and_building_views_frame_their_target(cop):
    engine = cop.engine()
    try:
        sid = next(iter(cop.expected))
        picture = cop_picture(engine, view=View.parse(f"sensor:{sid}"), size=SIZE)
        k = picture.marker_ids.index(sid)
        x, y = picture.marker_pixels()[k]
        ox, oy = picture.layout.view_origin
        vw, vh = picture.layout.view_size
        assert abs(x - (ox + vw / 2)) < vw * 0.1 and abs(y - (oy + vh / 2)) < vh * 0.1
        with pytest.raises(ValueError, match="no such sensor"):
            cop_picture(engine, view=View.parse("sensor:NOPE"), size=SIZE)
        with pytest.raises(ValueError, match="no such building"):
            cop_picture(engine, view=View.parse("building:999999"), size=SIZE)
    finally:
        engine.close()


def test_snapshot_command_writes_a_png_of_the_cop(cop, tmp_path, capsys):
    out = tmp_path / "cop.png"
    code = main(
        ["snapshot", "--config", str(cop.root / "cop.toml"), "--size", "320x240", "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == (320, 240)
    assert "wrote" in capsys.readouterr().out


def test_snapshot_command_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.usda"
    bad.write_text("not usd at all", encoding="utf-8")
    assert main(["snapshot", "--scene", str(bad), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("coptwin snapshot: error:") and "not a readable USD file" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


@pytest.mark.shared
def test_ce_ottawa_c_renders_recognisably(tmp_path):
    """1.43 M instanced triangles: every building shows where it stands, nothing explodes."""
    path = scene_path("ce_ottawa_c")
    picture = scene_picture(path, view=View("top"), size=SIZE)
    img = np.asarray(picture.image)
    ox, oy = picture.layout.view_origin
    vw, vh = picture.layout.view_size
    view_px = img[oy : oy + vh, ox : ox + vw]
    share = building_like(view_px).mean()
    assert 0.05 < share < 0.6, share
    # Each building's roof (the top of its box, at its centre) is building-coloured, so
    # instance transforms put the 17k leaves where their buildings stand.
    from coptwin.render.scene_mesh import load_scene, open_stage

    scene = load_scene(open_stage(path), object_id_attribute="CityEngine:Rule:User:OBJECTID")
    assert len(scene.buildings) == 40
    hits = 0
    for b in scene.buildings:
        tri = np.flatnonzero(scene.owner == b.index)
        cent = scene.points[scene.tris[tri]].mean(axis=1)
        roof = cent[np.argmax(cent[:, 2])]  # a point on the building's top
        x, y = (int(v) for v in picture.project(roof[None])[0])
        hits += bool(building_like(img[y - 1 : y + 2, x - 1 : x + 2]).any())
    assert hits >= 38, hits
    # And the oblique view of one building fills the frame with it.
    one = scene_picture(path, view=View.parse("building:7001"), size=SIZE)
    px = np.asarray(one.image)[oy : oy + vh, ox : ox + vw]
    assert building_like(px).mean() > 0.2
    buf = io.BytesIO(one.png())
    assert Image.open(buf).size == SIZE
