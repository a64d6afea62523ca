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


def test_quick_alarms_bench_measures_the_alarms_share_in_the_same_ticks(tmp_path, capsys):
    code = main(
        ["bench", "--quick", "--suite", "alarms", "--json", "--workdir", str(tmp_path / "b")]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)["alarms"]
    assert "error" not in doc, doc
    for load in ("wavering_only", "everyone_reports"):
        runs = doc[load]
        assert "evaluate" not in runs["no_alarms"]
        for name in ("plain", "delays"):
            run = runs[name]
            assert run["evaluate"]["n"] == run["tick"]["n"] == doc["ticks"]
            assert 0 < run["evaluate_share_of_tick"] < 1
        # without delays every flip is a transition; with them, the wavering raises once
        assert runs["plain"]["transitions_per_tick"] > runs["delays"]["transitions_per_tick"]
        assert runs["plain"]["open_alarms_after"] > 0
