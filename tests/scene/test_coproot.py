"""coptwin.scene.coproot: the root stage that sublayers overlay and base scene."""

from __future__ import annotations

from pathlib import Path

import pytest
from pxr import Sdf, Usd, UsdGeom

from coptwin.scene.citygen import CityInfo
from coptwin.scene.coproot import write_cop_root


def _overlay(path: Path) -> Path:
    layer = Sdf.Layer.CreateAnonymous(".usda")
    prim = Sdf.CreatePrimInLayer(layer, "/COP")
    prim.specifier = Sdf.SpecifierDef
    prim.typeName = "Xform"
    path.parent.mkdir(parents=True, exist_ok=True)
    layer.Export(str(path))
    return path


def test_relative_sublayers_and_metadata(city_copy: CityInfo, tmp_path: Path, digest) -> None:
    before = digest(city_copy.out_dir)
    overlay = _overlay(tmp_path / "out" / "overlay.usda")
    cop = write_cop_root(tmp_path / "out" / "cop.usda", city_copy.root_layer, overlay)
    layer = Sdf.Layer.FindOrOpen(str(cop))
    assert list(layer.subLayerPaths)[0] == "overlay.usda"
    assert list(layer.subLayerPaths)[1].startswith("../")
    assert layer.defaultPrim == city_copy.name
    stage = Usd.Stage.Open(str(cop))
    assert UsdGeom.GetStageUpAxis(stage) == "Y"
    assert UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    assert stage.GetPrimAtPath("/COP") and stage.GetDefaultPrim()
    assert digest(city_copy.out_dir) == before


def test_moved_folder_still_opens(city_copy: CityInfo, tmp_path: Path) -> None:
    overlay = _overlay(city_copy.out_dir / "out" / "overlay.usda")
    write_cop_root(city_copy.out_dir / "out" / "cop.usda", city_copy.root_layer, overlay)
    moved = tmp_path / "moved"
    city_copy.out_dir.rename(moved)
    stage = Usd.Stage.Open(str(moved / "out" / "cop.usda"))
    assert stage.GetPrimAtPath("/COP") and stage.GetPrimAtPath(f"/{city_copy.name}/Buildings")


def test_errors(city_copy: CityInfo, tmp_path: Path) -> None:
    overlay = _overlay(tmp_path / "overlay.usda")
    with pytest.raises(ValueError, match="base scene"):
        write_cop_root(tmp_path / "cop.usda", tmp_path / "missing.usda", overlay)
    with pytest.raises(ValueError):
        write_cop_root(overlay, city_copy.root_layer, overlay)
