"""The scene index's disk cache: a restart of an unchanged scene skips the mesh read and
builds the same index; a changed layer, other settings, other code or a damaged entry
is rebuilt (and logged); the cache lives in the user's cache folder, never the scene's."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from pxr import Gf, Sdf, Usd, UsdGeom

from coptwin.config import SceneConfig
from coptwin.geo import SceneIndex, index_cache

from .conftest import Ottawa, open_stage

OID = "CityEngine:Rule:User:OBJECTID"


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder of the test's own (and no index left in memory)."""
    monkeypatch.setenv(index_cache.ENV, str(tmp_path / "cache"))
    SceneIndex.clear_cache()
    yield tmp_path / "cache" / "scene-index"
    SceneIndex.clear_cache()


@pytest.fixture()
def tree(ottawa: Ottawa, tmp_path: Path) -> Path:
    """A private copy of the export (its root layer)."""
    dst = tmp_path / "tree"
    shutil.copytree(ottawa.root_layer.parent, dst)
    return dst / ottawa.root_layer.name


def _restart(root: Path, cfg: SceneConfig) -> SceneIndex:
    """What a new process does: nothing in memory, the stage opened again."""
    SceneIndex.clear_cache()
    return SceneIndex.build(open_stage(root), cfg)


def _files(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_restart_reads_the_cache_and_builds_the_same_index(
    cache: Path, tree: Path, ottawa: Ottawa
) -> None:
    scene_files = _files(tree.parent)
    first = _restart(tree, ottawa.scene_cfg())
    assert "read" in first.stats.phases
    assert len(list(cache.glob("*.npz"))) == 1
    again = _restart(tree, ottawa.scene_cfg())
    assert again is not first
    assert set(again.stats.phases) == {"cache", "instance", "grid"}  # nothing read
    np.testing.assert_array_equal(again.tris, first.tris)
    np.testing.assert_array_equal(again.owner, first.owner)
    assert [(b.path, b.object_id, b.source) for b in again.buildings] == [
        (b.path, b.object_id, b.source) for b in first.buildings
    ]
    np.testing.assert_array_equal(again.building_min, first.building_min)
    assert again.stats.distinct_meshes == first.stats.distinct_meshes
    assert again.stats.triangles == first.stats.triangles == len(first.tris)
    uv = first.tris[:: max(1, len(first.tris) // 500), :, :2].mean(axis=1)
    for a, b in zip(first.surface_up(uv), again.surface_up(uv), strict=True):
        np.testing.assert_array_equal(a, b)
    # the scene's folder is untouched: the entry is in the cache folder only
    assert _files(tree.parent) == scene_files


def test_a_changed_layer_is_read_again(
    cache: Path, tree: Path, ottawa: Ottawa, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = ottawa.scene_cfg()
    first = _restart(tree, cfg)
    moved = first.building_for_object_id(150)
    assert moved is not None
    # a re-export moves one building 100 m east (USD x)
    layer = Sdf.Layer.FindOrOpen(str(tree.parent / "layers" / "Buildings.usdc"))
    shape = layer.GetPrimAtPath(moved.path.replace(str(Path(moved.path).parent), "/Buildings"))
    leaf = shape.nameChildren[0]
    op = leaf.attributes["xformOp:transform"]
    op.default = op.default * Gf.Matrix4d().SetTranslate(Gf.Vec3d(100, 0, 0))
    assert layer.Save()
    with caplog.at_level(logging.INFO, logger="coptwin.geo.index_cache"):
        again = _restart(tree, cfg)
    assert "read" in again.stats.phases
    assert "stale (changed layers: Buildings.usdc)" in caplog.text
    b = again.building_for_object_id(150)
    assert b.bbox_min[0] == pytest.approx(moved.bbox_min[0] + 100)
    # the entry now holds the new scene
    third = _restart(tree, cfg)
    assert "cache" in third.stats.phases
    assert third.building_for_object_id(150).bbox_min[0] == pytest.approx(b.bbox_min[0])
    # a touched file (same bytes, new mtime) is read again too
    st = (tree.parent / "layers" / "Terrain.usdc").stat()
    os.utime(tree.parent / "layers" / "Terrain.usdc", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert "read" in _restart(tree, cfg).stats.phases


def test_settings_and_code_are_part_of_the_key(
    cache: Path, tree: Path, ottawa: Ottawa, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_attribute = _restart(tree, ottawa.scene_cfg())
    by_name = _restart(tree, ottawa.scene_cfg(object_id_attribute="x:y"))
    assert "read" in by_name.stats.phases and {b.source for b in by_name.buildings} == {"name"}
    assert len(list(cache.glob("*.npz"))) == 2  # one entry per scene and settings
    assert "cache" in _restart(tree, ottawa.scene_cfg()).stats.phases
    assert {b.source for b in _restart(tree, ottawa.scene_cfg()).buildings} == {
        b.source for b in by_attribute.buildings
    }
    # another coptwin (the reading code changed) or another USD: read again
    monkeypatch.setattr(index_cache, "_code_stamp", "another version")
    assert "read" in _restart(tree, ottawa.scene_cfg()).stats.phases


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "inconsistent"])
def test_a_damaged_entry_is_logged_and_rebuilt(
    cache: Path, tree: Path, ottawa: Ottawa, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    cfg = ottawa.scene_cfg()
    first = _restart(tree, cfg)
    (entry,) = cache.glob("*.npz")
    data = entry.read_bytes()
    if damage == "garbage":
        entry.write_bytes(b"\x00not a cache entry" * 100)
    elif damage == "truncated":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        entry.write_bytes(b"")
    else:  # a readable entry of the right key whose triangles point past its points
        with np.load(entry) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["tris"] = arrays["tris"] + len(arrays["points"])
        with entry.open("wb") as fh:
            np.savez(fh, **arrays)
    with caplog.at_level(logging.WARNING, logger="coptwin.geo.index_cache"):
        again = _restart(tree, cfg)
    assert "unreadable" in caplog.text
    assert "read" in again.stats.phases
    np.testing.assert_array_equal(again.tris, first.tris)
    # rewritten: the next start reads it
    assert "cache" in _restart(tree, cfg).stats.phases


def test_no_disk_cache_when_off_unwritable_or_unsaved(
    tmp_path: Path,
    tree: Path,
    ottawa: Ottawa,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = ottawa.scene_cfg()
    monkeypatch.setenv(index_cache.ENV, "")  # off
    assert index_cache.cache_dir() is None
    assert "read" in _restart(tree, cfg).stats.phases
    assert "read" in _restart(tree, cfg).stats.phases
    # a cache folder that cannot be made: logged, the index is built all the same
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(index_cache.ENV, str(blocker))
    with caplog.at_level(logging.WARNING, logger="coptwin.geo.index_cache"):
        index = _restart(tree, cfg)
    assert len(index.buildings) == 120 and "could not write" in caplog.text
    # a stage with unsaved (in-memory) layers has no stamp: never stored
    monkeypatch.setenv(index_cache.ENV, str(tmp_path / "cache"))
    stage = Usd.Stage.CreateInMemory()
    stage.GetRootLayer().subLayerPaths.append(str(tree))
    UsdGeom.Xform.Define(stage, "/extra")
    SceneIndex.clear_cache()
    assert len(SceneIndex.build(stage, cfg).buildings) == 120
    assert not (tmp_path / "cache").exists()
    SceneIndex.clear_cache()


def test_the_most_recently_used_entries_are_kept(
    cache: Path, tree: Path, ottawa: Ottawa, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_cache, "KEEP", 2)
    for attribute in (OID, "a:b", "c:d"):
        _restart(tree, ottawa.scene_cfg(object_id_attribute=attribute))
    assert len(list(cache.glob("*.npz"))) == 2
    assert "read" in _restart(tree, ottawa.scene_cfg()).stats.phases  # the oldest went
    assert "cache" in _restart(tree, ottawa.scene_cfg(object_id_attribute="c:d")).stats.phases


def test_default_folder_is_the_users_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(index_cache.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    monkeypatch.setattr(Path, "home", lambda: tmp_path)
    folder = index_cache.cache_dir()
    assert folder is not None and tmp_path in folder.parents
    assert "coptwin" in folder.parts
