"""``coptwin annotate`` end to end: real config, sensors table, scene file and annotations table."""

from __future__ import annotations

import io
import json

import polars as pl
import pytest
from deltalake import write_deltalake

from coptwin.annotations.store import AnnotationStore
from coptwin.cli import main
from coptwin.config import load_config


@pytest.fixture()
def cfg_path(tmp_path, stage):
    stage.GetRootLayer().Export(str(tmp_path / "city.usda"))
    sensors = pl.DataFrame(
        {"sensor_id": ["s1", "s2"], "kind": ["temperature"] * 2, "lon": [-75.7, -75.69]}
        | {"lat": [45.42, 45.43], "alt": [80.0, None]}
    )
    write_deltalake(str(tmp_path / "tables" / "sensors"), sensors)
    path = tmp_path / "coptwin.toml"
    path.write_text(
        """
[storage]
uri = "tables"
[tables.readings]
path = "readings"
[tables.sensors]
path = "sensors"
[tables.annotations]
path = "annotations"
[annotations]
max_text_length = 50
[scene]
path = "city.usda"
crs = "EPSG:32618"
global_offset = [-445500.0, -60.0, 5029500.0]
""",
        encoding="utf-8",
    )
    return str(path)


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["annotate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _version(cfg_path) -> int | None:
    return AnnotationStore.from_config(load_config(cfg_path)).version()


def test_add_list_resolve_reply(cfg_path, capsys):
    c = ["-c", cfg_path, "--author", "ann"]
    code, out, _ = _run(capsys, "add", *c, "--sensor", "s1", "reads high\nsince Monday")
    assert code == 0
    sid = out.strip()
    assert _run(capsys, "add", *c, "--prim", "/World/B1", "view blocked")[0] == 0
    assert _run(capsys, "add", *c, "--point", "1,2,3", "puddle")[0] == 0
    assert _run(capsys, "add", *c, "--lonlat=-75.7,45.42,70", "here")[0] == 0
    assert _run(capsys, "reply", *c, sid, "seen it")[0] == 0
    assert _run(capsys, "resolve", *c, sid)[0] == 0
    code, out, _ = _run(capsys, "list", "-c", cfg_path, "--status", "all", "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 5
    by_text = {r["text"]: r for r in records}
    assert by_text["reads high\nsince Monday"]["status"] == "resolved"
    assert by_text["seen it"]["parent_id"] == sid
    assert by_text["here"]["target"].startswith("point:")
    code, out, _ = _run(capsys, "list", "-c", cfg_path)  # open only
    assert sid not in out and "view blocked" in out and "puddle" in out


def test_list_as_of_an_older_version(cfg_path, capsys):
    c = ["-c", cfg_path, "--author", "ann"]
    _, out, _ = _run(capsys, "add", *c, "--sensor", "s2", "before")
    version = _version(cfg_path)
    _run(capsys, "edit", *c, out.strip(), "after")
    _, old, _ = _run(capsys, "list", "-c", cfg_path, "--as-of", str(version))
    _, new, _ = _run(capsys, "list", "-c", cfg_path)
    assert "before" in old and "after" in new and "before" not in new


@pytest.mark.parametrize(
    "argv",
    [
        ["--sensor", "nope", "x"],
        ["--prim", "/World/Missing", "x"],
        ["--prim", "not a path", "x"],
        ["--point", "1,2", "x"],
        ["--sensor", "s1", ""],
        ["--sensor", "s1", "x" * 51],
    ],
)
def test_bad_input_exits_2_and_writes_nothing(cfg_path, capsys, argv):
    _run(capsys, "add", "-c", cfg_path, "--author", "ann", "--sensor", "s1", "ok")
    version = _version(cfg_path)
    code, _, err = _run(capsys, "add", "-c", cfg_path, "--author", "ann", *argv)
    assert code == 2 and err.startswith("coptwin annotate: error:")
    assert _version(cfg_path) == version


def test_missing_author_is_refused(cfg_path, capsys, monkeypatch):
    monkeypatch.delenv("COPTWIN_AUTHOR", raising=False)
    code, _, err = _run(capsys, "add", "-c", cfg_path, "--author", "", "--sensor", "s1", "x")
    assert code == 2 and "author" in err and _version(cfg_path) is None


def test_list_escapes_control_characters(cfg_path, capsys):
    store = AnnotationStore.from_config(load_config(cfg_path))
    # A foreign tool wrote a note with a terminal escape sequence into the table.
    from coptwin.annotations.model import AnnotationEvent, utc_now

    store.append(
        [AnnotationEvent("x", "e", "created", utc_now(), "eve", "sensor:s1", "\x1b[2Jboom")]
    )
    _, out, _ = _run(capsys, "list", "-c", cfg_path)
    assert "\x1b" not in out and "\\x1b[2Jboom" in out


def test_export_geojson_and_csv(cfg_path, capsys, tmp_path):
    c = ["-c", cfg_path, "--author", "ann"]
    _run(capsys, "add", *c, "--sensor", "s1", "on a sensor")
    _run(capsys, "add", *c, "--prim", "/World/B2", "on a building")
    _run(capsys, "add", *c, "--lonlat=-75.7,45.42,70", "on a point")
    out = tmp_path / "out" / "notes.geojson"
    assert _run(capsys, "export", "-c", cfg_path, "--format", "geojson", "-o", str(out))[0] == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    feats = {f["properties"]["text"]: f for f in doc["features"]}
    assert feats["on a sensor"]["geometry"]["coordinates"] == [-75.7, 45.42, 80.0]
    lon, lat, h = feats["on a point"]["geometry"]["coordinates"]
    assert (lon, lat, h) == pytest.approx((-75.7, 45.42, 70.0), abs=1e-7)
    assert feats["on a building"]["geometry"] is not None
    assert feats["on a building"]["properties"]["scene_y"] == pytest.approx(12.0)
    code, text, _ = _run(capsys, "export", "-c", cfg_path, "--format", "csv")
    assert code == 0 and pl.read_csv(io.StringIO(text)).height == 3
