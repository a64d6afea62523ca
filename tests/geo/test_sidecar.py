"""CityEngine's global_offset.json sidecar: read, found beside the export, or refused."""

from __future__ import annotations

import json

import pytest

from coptwin.geo.errors import SceneError
from coptwin.geo.sidecar import find_sidecar, read_sidecar


def write(path, **doc):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_found_in_the_folder_above_the_export_and_turned_into_scene_config(tmp_path):
    root = tmp_path / "city" / "city.usdc"
    root.parent.mkdir()
    root.write_bytes(b"")
    write(
        tmp_path / "global_offset.json",
        usd_root="city/city.usdc",
        crs="EPSG:32618",
        global_offset=[-448000, -60, 5032000],
    )
    found = find_sidecar(root)
    assert found is not None and found.crs == "EPSG:32618"
    assert found.global_offset == (-448000.0, -60.0, 5032000.0)
    cfg = found.scene_config()
    assert cfg.crs == "EPSG:32618" and list(cfg.global_offset) == [-448000.0, -60.0, 5032000.0]


def test_a_sidecar_of_another_root_layer_is_not_this_scenes(tmp_path):
    root = tmp_path / "a" / "a.usdc"
    root.parent.mkdir()
    root.write_bytes(b"")
    write(
        tmp_path / "global_offset.json",
        usd_root="b/b.usdc",
        crs="EPSG:32618",
        global_offset=[0, 0, 0],
    )
    assert find_sidecar(root) is None


def test_broken_sidecars_are_clear_errors_and_skipped_when_searching(tmp_path):
    bad = tmp_path / "global_offset.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(SceneError, match="global_offset.json"):
        read_sidecar(bad)
    write(bad, crs="EPSG:32618", global_offset=[1, 2])
    with pytest.raises(SceneError, match="three finite numbers"):
        read_sidecar(bad)
    assert find_sidecar(tmp_path / "x.usdc") is None
