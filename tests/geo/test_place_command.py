"""``coptwin place`` end to end: CSV in, CSV out, summary, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from coptwin.cli import main

from .conftest import Ottawa, assert_accuracy, placement_errors


def test_place_with_crs_and_offset_flags(
    ottawa: Ottawa, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out" / "placed.csv"
    offset = ",".join(str(v) for v in ottawa.offset)
    rc = main(
        [
            "place",
            "--scene",
            str(ottawa.root_layer),
            "--sensors",
            str(ottawa.dir / "sensors.csv"),
            "--crs",
            ottawa.crs,
            f"--offset={offset}",  # '=' because the value starts with '-'
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    placed = pl.read_csv(out, schema_overrides={"prim_path": pl.Utf8})
    assert placed.columns == ["sensor_id", "x", "y", "z", "prim_path", "placement"]
    assert_accuracy(placement_errors(placed, ottawa.sensors, ottawa.expected()), what="CLI")
    text = capsys.readouterr().out
    assert "placed 300 sensors" in text and "300 exact, 0 fallback" in text


def test_place_with_config_column_mapping_and_sidecar(
    ottawa: Ottawa, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # the user's sensors table calls its columns differently; the config maps them
    renamed = ottawa.sensors.rename({"sensor_id": "device", "object_id": "oid"})
    bad = pl.DataFrame({"device": ["lost"], "lon": [-75.0], "lat": [46.0], "mount": ["ground"]})
    csv = tmp_path / "sensors.csv"
    pl.concat([renamed, bad], how="diagonal").write_csv(csv)
    cfg = tmp_path / "coptwin.toml"
    cfg.write_text(
        f"""
[storage]
uri = "tables"
[tables.readings]
path = "readings"
[tables.sensors]
path = "sensors"
columns = {{ sensor_id = "device", object_id = "oid" }}
[scene]
path = "{ottawa.root_layer.as_posix()}"
vertical_offset_m = 0.0
""",
        encoding="utf-8",
    )
    out = tmp_path / "placed.csv"
    rc = main(
        [
            "place",
            "--config",
            str(cfg),
            "--offset",
            str(ottawa.dir / "global_offset.json"),
            "--sensors",
            str(csv),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    placed = pl.read_csv(out, schema_overrides={"prim_path": pl.Utf8})
    assert placed.height == 301
    lost = placed.filter(pl.col("sensor_id") == "lost").row(0, named=True)
    assert lost["placement"] == "fallback" and np.isfinite([lost["x"], lost["y"], lost["z"]]).all()
    text = capsys.readouterr().out
    assert "300 exact, 1 fallback" in text and "outside the terrain: 1 (e.g. lost)" in text
    by_id = dict(zip(placed["sensor_id"], placed["prim_path"], strict=True))
    assert (
        by_id["OTA-0001"] == ottawa.prim_by_oid[int(ottawa.sensors.row(0, named=True)["object_id"])]
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--offset", "1,2"], "--offset: expected 3"),
        ([], "no georeference"),
        (["--crs", "EPSG:4326"], "not a projected CRS"),
    ],
)
def test_place_errors_are_one_line(
    ottawa: Ottawa, tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str], message: str
) -> None:
    rc = main(
        [
            "place",
            "--scene",
            str(ottawa.root_layer),
            "--sensors",
            str(ottawa.dir / "sensors.csv"),
            "--out",
            str(tmp_path / "x.csv"),
            *extra,
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.csv").exists()


def test_place_missing_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert (
        main(
            [
                "place",
                "--scene",
                str(tmp_path / "none.usda"),
                "--sensors",
                "x.csv",
                "--crs",
                "EPSG:32618",
                "--out",
                str(tmp_path / "o.csv"),
            ]
        )
        == 2
    )
    assert "no such file" in capsys.readouterr().err
    scene = tmp_path / "s.usda"
    scene.write_text("#usda 1.0\n", encoding="utf-8")
    assert (
        main(
            [
                "place",
                "--scene",
                str(scene),
                "--sensors",
                str(tmp_path / "none.csv"),
                "--crs",
                "EPSG:32618",
                "--out",
                str(tmp_path / "o.csv"),
            ]
        )
        == 2
    )
    assert "cannot read" in capsys.readouterr().err


def test_place_writes_the_overlay(ottawa: Ottawa, tmp_path: Path) -> None:
    from pxr import Sdf, UsdGeom

    out, ov = tmp_path / "placed.csv", tmp_path / "ov" / "overlay.usda"
    rc = main(
        [
            "place",
            "--scene",
            str(ottawa.root_layer),
            "--sensors",
            str(ottawa.dir / "sensors.csv"),
            "--offset",
            str(ottawa.dir / "global_offset.json"),
            "--out",
            str(out),
            "--overlay",
            str(ov),
        ]
    )
    assert rc == 0 and ov.is_file()
    placed = pl.read_csv(out, schema_overrides={"prim_path": pl.Utf8})
    layer = Sdf.Layer.FindOrOpen(str(ov))
    positions: list = []

    def collect(path: Sdf.Path) -> None:
        attr = layer.GetAttributeAtPath(path.AppendProperty(UsdGeom.Tokens.positions))
        if path.IsPrimPath() and attr is not None:
            positions.extend(attr.default)

    layer.Traverse("/", collect)
    got = np.sort(np.array(positions, dtype=float), axis=0)
    want = np.sort(placed.select("x", "y", "z").to_numpy(), axis=0)
    assert got.shape == (300, 3)
    np.testing.assert_allclose(got, want, atol=1e-3)  # float32 positions
    # bound buildings get attributes as overs in the overlay, the base scene is untouched
    bound = set(placed["prim_path"].drop_nulls())
    assert all(layer.GetPrimAtPath(p) is not None for p in bound)
