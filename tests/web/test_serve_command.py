"""`coptwin serve` as a command: clear errors, no stray server left behind."""

from __future__ import annotations

import socket

from coptwin.cli import main


def test_a_missing_basemap_is_a_clear_error(demo, tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    text = demo.config_path.read_text(encoding="utf-8").replace(
        "[web]\n", '[web]\nbasemap_pmtiles = "no/such/file.pmtiles"\n'
    )
    cfg.write_text(text.replace('"../', f'"{demo.root.as_posix()}/'), encoding="utf-8")
    assert main(["serve", "--config", str(cfg), "--port", "0", "--duration", "5"]) == 2
    err = capsys.readouterr().err
    assert "web.basemap_pmtiles: no such file" in err and "no/such/file.pmtiles" in err


def test_a_taken_port_is_a_clear_error(demo, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", "--config", str(demo.config_path), "--port", str(port)])
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_serve_runs_for_a_duration_and_stops(demo, capsys):
    assert main(["serve", "--config", str(demo.config_path), "--port", "0", "--duration", "2"]) == 0
    assert "the COP is at http://127.0.0.1:" in capsys.readouterr().out


def test_the_web_bench_reports_its_figures(tmp_path):
    """`coptwin bench --suite web`, tiny: the push sends far less than the whole state."""
    from coptwin.bench.web import bench_web, chromium_available

    if not chromium_available():
        import pytest

        from .conftest import _ci

        if _ci():
            pytest.fail("chromium is required under CI=true")
        pytest.skip("headless Chromium not installed")
    doc = bench_web(
        tmp_path, n_sensors=400, n_buildings=40, changed_per_s=40, duration_s=3, idle_s=1
    )
    assert doc["sensors_on_page"] == 400 and doc["initial_load_s"] > 0
    assert doc["load"]["updates"] >= 1 and doc["load"]["page_fps"] > 0
    assert doc["load"]["bytes_per_update"] < doc["state_bytes"]
    assert doc["idle"]["updates"] == 0


def test_missing_tables_are_retried_and_said(demo, tmp_path, capsys, caplog):
    """Tables missing at start are storage, not config: the server retries and says why
    (as ``coptwin run`` does; a server must not die when it starts before its storage)."""
    cfg = tmp_path / "config" / "demo.toml"
    cfg.parent.mkdir()
    text = demo.config_path.read_text(encoding="utf-8")
    cfg.write_text(text.replace('"../data/', f'"{demo.root.as_posix()}/data/'), encoding="utf-8")
    with caplog.at_level("WARNING", logger="coptwin.engine.loop"):
        assert main(["serve", "--config", str(cfg), "--port", "0", "--duration", "2"]) == 0
    said = [r.getMessage() for r in caplog.records]
    assert any("no Delta table here" in m and "retry in" in m for m in said), said
    assert "Traceback" not in capsys.readouterr().err
