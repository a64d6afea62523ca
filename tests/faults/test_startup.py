"""Start-up problems (issue 12, item 4): a live engine retries storage; a wrong config is
one line ``<config file>: <key>: <what is wrong>``, exit code 2, no traceback.

Every command that loads a config goes through one mechanism: what is wrong is a
:class:`coptwin.problem.Problem` (the engine turns scene, column and, outside the live
loop, storage errors into a ConfigError naming the file and key) and ``cli.main``
prints it; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from coptwin.cli import main
from tests.support.wait import wait_until


@pytest.fixture
def where() -> str:
    """Command-level cases: a local folder (the S3 cases below ask for S3 themselves)."""
    return "local"


def _broken(cop, case: str) -> tuple[Path, str, str]:
    """A config file broken as ``case`` says; the key and words the one line must hold."""
    scene = cop.city.root_layer.as_posix()
    if case == "missing scene":
        return (
            cop.variant(case, {scene: (cop.folder / "nope.usdc").as_posix()}),
            "scene.path",
            ("no such file"),
        )
    if case == "garbage scene":
        garbage = cop.folder / "garbage.usdc"
        garbage.write_bytes(b"this is not USD\n" * 4)
        return cop.variant(case, {scene: garbage.as_posix()}), "scene.path", "not a readable USD"
    if case == "unknown CRS":
        crs = {'crs = "EPSG:32618"': 'crs = "EPSG:99999"'}
        return cop.variant(case, crs), "scene.crs", "not a known CRS"
    if case == "geographic CRS":
        crs = {'crs = "EPSG:32618"': 'crs = "EPSG:4326"'}
        return cop.variant(case, crs), "scene.crs", "not a projected CRS"
    if case == "missing sensors table":
        table = {'path = "sensors"': 'path = "no-such-sensors"'}
        return cop.variant(case, table), "tables.sensors", "no Delta table"
    if case == "corrupt readings table":
        cop.table.append(5)
        cop.table.add_file(b"PAR1 garbage", rows=0)  # a second commit, then break its JSON
        log = Path(cop.table.uri) / "_delta_log" / f"{1:020d}.json"
        log.write_bytes(b'{"add": {"path": "part-0.parquet", \n garbage')
        return cop.variant(case), "tables.readings", "cannot open table"
    raise AssertionError(case)


SCENE_CASES = ["missing scene", "garbage scene", "unknown CRS", "geographic CRS"]
ALL_CASES = [*SCENE_CASES, "missing sensors table", "corrupt readings table"]


def _one_line(capsys, code: int, config: Path, key: str, words: str) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, (code, err)
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert f"{config}: {key}: " in lines[0] and words in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("case", ALL_CASES)
def test_run_once_says_what_is_wrong_in_one_line(cop_files, capsys, case):
    config, key, words = _broken(cop_files, case)
    code = main(["run", "--once", "--config", str(config)])
    _one_line(capsys, code, config, key, words)


@pytest.mark.parametrize("case", ["garbage scene", "geographic CRS", "missing sensors table"])
@pytest.mark.parametrize("command", ["snapshot", "report"])
def test_pictures_say_what_is_wrong_in_one_line(cop_files, capsys, tmp_path, case, command):
    config, key, words = _broken(cop_files, case)
    out = tmp_path / ("cop.png" if command == "snapshot" else "cop.html")
    code = main([command, "--config", str(config), "--out", str(out)])
    _one_line(capsys, code, config, key, words)
    assert not out.exists()


@pytest.mark.parametrize("case", ["missing scene", "unknown CRS"])
@pytest.mark.parametrize("command", ["run", "serve"])
def test_live_commands_stop_at_once_on_a_wrong_scene(cop_files, capsys, case, command):
    """No retry fixes a config: the live loop ends with the one line, well before --duration."""
    config, key, words = _broken(cop_files, case)
    extra = ["--port", "0"] if command == "serve" else []
    t0 = time.monotonic()
    code = main([command, "--config", str(config), "--duration", "60", *extra])
    _one_line(capsys, code, config, key, words)
    assert time.monotonic() - t0 < 30


@pytest.mark.parametrize("case", ["garbage scene", "geographic CRS"])
def test_place_and_annotate_name_the_config_key(cop_files, capsys, tmp_path, case):
    config, key, words = _broken(cop_files, case)
    sensors = tmp_path / "sensors.csv"
    sensors.write_text("sensor_id,kind,lon,lat\ns0,temperature,-75.7,45.4\n", encoding="utf-8")
    code = main(
        ["place", "--config", str(config), "--sensors", str(sensors), "--out", str(tmp_path / "o")]
    )
    _one_line(capsys, code, config, key, words)
    if case == "garbage scene":  # annotate checks prim targets against the scene
        code = main(["annotate", "add", "--config", str(config), "--prim", "/World/X", "hi"])
        _one_line(capsys, code, config, key, words)


@pytest.mark.parametrize("case", SCENE_CASES)
def test_doctor_fails_the_scene_check(cop_files, capsys, case):
    """doctor never crashes; a broken scene is a failed check with the key, not a pass."""
    config, key, words = _broken(cop_files, case)
    code = main(["doctor", "--config", str(config)])
    out = capsys.readouterr()
    assert code == 1 and "Traceback" not in out.err
    line = next(ln for ln in out.out.splitlines() if "scene opens" in ln)
    assert line.startswith("FAIL") and f"{key}: " in line and words in line, line
    assert "all checks passed" not in out.out


def test_doctor_passes_a_good_scene(cop_files, capsys):
    main(["doctor", "--config", str(cop_files.path)])
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "scene opens" in ln)
    assert line.startswith("PASS") and "EPSG:32618" in line, line


def test_debug_shows_the_traceback(cop_files, capsys):
    config, key, words = _broken(cop_files, "geographic CRS")
    code = main(["--debug", "run", "--once", "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" in err and "SceneError" in err
    last = err.rstrip().splitlines()[-1]  # the traceback, then the same one line
    assert f"{config}: {key}: " in last and words in last, last


def test_as_of_a_version_that_does_not_exist_is_one_line(cop_files, capsys):
    cop_files.table.append(4)
    code = main(["run", "--config", str(cop_files.path), "--as-of", "99"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "version 99" in err and "0" in err, err


def test_a_real_terminal_sees_one_line(cop_files):
    """The same through a real process: stderr is that one line, whatever logs say."""
    config, key, words = _broken(cop_files, "corrupt readings table")
    done = subprocess.run(
        [sys.executable, "-m", "coptwin.cli", "run", "--once", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and f"{config}: {key}: " in lines[0], done.stderr


# -- storage at start: the live run backs off and retries ------------------------------------


@pytest.mark.s3
@pytest.mark.parametrize("where", ["s3"])
def test_live_run_retries_until_s3_is_up_then_writes_the_overlay(
    cop_files, s3_running, tmp_path, capsys, caplog
):
    """S3 down when ``coptwin run`` starts: it says why, backs off, and once the server is
    back it opens, reads and writes the overlay (before the fix: exit 1, a traceback)."""
    cop, s3 = cop_files, s3_running
    cop.table.append(8)
    out = tmp_path / "overlay.usda"
    s3.stop()
    result: dict[str, int] = {}
    runner = threading.Thread(
        target=lambda: result.update(
            code=main(["run", "--config", str(cop.path), "--duration", "25", "--out", str(out)])
        )
    )
    try:
        with caplog.at_level("WARNING", logger="coptwin.engine.loop"):
            runner.start()
            wait_until(
                lambda: any("retry in" in r.getMessage() for r in caplog.records),
                timeout=30,
                what="a 'disconnected, retry' warning",
            )
            s3.start()
            runner.join(60)
    finally:
        if not s3.running:
            s3.start()
    assert result.get("code") == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed, printed
    assert any("disconnected" in r.getMessage() for r in caplog.records)
    from pxr import Usd

    stage = Usd.Stage.Open(str(out))
    statuses = [
        p.GetAttribute("coptwin:status").Get()
        for p in stage.Traverse()
        if p.HasAttribute("coptwin:status")
    ]
    assert statuses and any(s != "unknown" for s in statuses), statuses


@pytest.mark.s3
@pytest.mark.parametrize("where", ["s3"])
def test_wrong_credentials_retry_live_and_are_one_line_once(
    cop_files, tmp_path, capsys, monkeypatch
):
    cop = cop_files
    cop.table.append(4)
    key_env = {"allow_http = true": 'allow_http = true\naccess_key_id_env = "X_KEY"'}
    wrong = cop.variant("wrong", key_env)
    monkeypatch.setenv("X_KEY", "not-the-key")
    code = main(
        ["run", "--config", str(wrong), "--duration", "3", "--out", str(tmp_path / "o.usda")]
    )
    out = capsys.readouterr()
    assert code == 0 and "Traceback" not in out.err
    assert "kept" in out.out and "no state was read" in out.out, out.out
    assert not (tmp_path / "o.usda").exists()
    code = main(["run", "--once", "--config", str(wrong)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{wrong}: tables." in err and "Traceback" not in err


def test_demo_with_a_geographic_crs_is_one_line(tmp_path, capsys):
    """``coptwin demo`` builds its own city and tables, then opens the engine: the same line."""
    config = tmp_path / "config" / "demo.toml"
    config.parent.mkdir()
    text = (Path(__file__).resolve().parents[2] / "config" / "demo.toml").read_text("utf-8")
    config.write_text(text.replace('"EPSG:32618"', '"EPSG:4326"'), encoding="utf-8")
    code = main(["demo", "--config", str(config), "--duration", "1", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err  # the demo's progress lines, then the error's one line
    assert code == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"coptwin demo: error: {config}: scene.crs: "), last
    assert "not a projected CRS" in last
