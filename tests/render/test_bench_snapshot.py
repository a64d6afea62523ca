"""`coptwin bench --suite snapshot`: time and memory per scene, beside a baseline."""

from __future__ import annotations

import json

from coptwin.cli import main


def test_quick_snapshot_bench_reports_time_memory_and_baseline(tmp_path, capsys):
    args = ["bench", "--quick", "--suite", "snapshot", "--json", "--workdir", str(tmp_path)]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)["snapshot"]
    assert "error" not in doc, doc
    generated = doc["generated"]
    assert generated["buildings"] == doc["generated_buildings"] > 100
    for key in ("read_s", "render_s", "total_s", "peak_rss_mb", "index_read_s"):
        assert generated[key] > 0, key
    assert generated["total_s"] >= generated["read_s"]
    assert generated["aim_s"] == 20.0 and isinstance(generated["within_aim"], bool)
    assert generated["read_speedup_vs_index"] == round(
        generated["index_read_s"] / generated["read_s"], 2
    )
    a = doc["ce_ottawa_a"]
    assert "skipped" in a or (a["buildings"] == 120 and a["aim_s"] == 5.0)
