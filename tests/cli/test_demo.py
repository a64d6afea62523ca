"""`coptwin demo` end to end, in a temporary copy of the repository's layout."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

from PIL import Image
from pxr import Usd, UsdGeom

from coptwin.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_demo_writes_a_live_cop(tmp_path, capsys):
    (tmp_path / "config").mkdir()
    shutil.copy(REPO / "config" / "demo.toml", tmp_path / "config" / "demo.toml")
    out = tmp_path / "out"
    code = main(
        [
            "demo",
            "--config",
            str(tmp_path / "config" / "demo.toml"),
            "--duration",
            "3",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "delta versions applied" in printed and "tick time: median" in printed
    with Image.open(out / "cop.png") as picture:  # a picture of the COP beside the USD
        assert picture.format == "PNG" and picture.size == (1280, 720)
    stage = Usd.Stage.Open(str(out / "cop.usda"))
    assert stage is not None
    markers = [p for p in stage.Traverse() if p.HasAttribute("coptwin:sensorId")]
    layers = Counter(str(p.GetPath()).split("/")[3] for p in markers)
    statuses = Counter(p.GetAttribute("coptwin:status").Get() for p in markers)
    assert len(markers) >= 200, len(markers)
    assert len(layers) >= 4, layers
    assert len([s for s in statuses if s != "unknown"]) >= 3, statuses
    # Markers are drawn by one PointInstancer per layer holding every sensor of it.
    instancers = [p for p in stage.Traverse() if p.IsA(UsdGeom.PointInstancer)]
    rings = [p for p in instancers if str(p.GetPath()) == "/COP/Alarms/Rings"]
    instancers = [p for p in instancers if p not in rings]
    drawn = sum(len(UsdGeom.PointInstancer(p).GetPositionsAttr().Get()) for p in instancers)
    # The demo's alarms await acknowledgement: their markers have rings.
    assert rings and len(UsdGeom.PointInstancer(rings[0]).GetPositionsAttr().Get()) >= 1
    assert drawn == len(markers)
    # The COP root composes the base scene under the overlay.
    assert stage.GetDefaultPrim().IsValid()
    assert any(p.HasAttribute("CityEngine:Rule:User:OBJECTID") for p in stage.Traverse())
    overlay = Usd.Stage.Open(str(out / "overlay.usda"))
    assert not any(p.HasAttribute("CityEngine:Rule:User:OBJECTID") for p in overlay.Traverse()), (
        "the overlay holds only coptwin's own opinions"
    )
