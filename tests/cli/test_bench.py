"""`coptwin bench --json` prints figures beside a baseline measured in the same run."""

from __future__ import annotations

import json

from coptwin.cli import main


def test_quick_tick_bench_reports_engine_and_baselines(tmp_path, capsys):
    code = main(
        ["bench", "--quick", "--suite", "tick", "--json", "--workdir", str(tmp_path / "bench")]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    tick = doc["tick"]
    assert "error" not in tick, tick
    for variant in ("engine", "baseline", "polars"):
        assert tick[variant]["tick"]["median_ms"] > 0
        assert tick[variant]["peak_rss_mb"] > 0
    engine = tick["engine"]
    assert engine["changed_per_tick"] == tick["sensors"]
    assert engine["read_part"]["n"] == engine["main_thread_part"]["n"] == engine["tick"]["n"]
    expected = round(tick["baseline"]["tick"]["median_ms"] / engine["tick"]["median_ms"], 2)
    assert tick["speedup_vs_baseline"] == expected
    assert doc["machine"]["cpus"] >= 1
