from __future__ import annotations

import pytest

from coptwin.engine.snapshot import LayerRow
from coptwin.ui.layers import LayersVM, counts_text, legend


def test_counts_by_severity_skip_zeros():
    assert counts_text({"ok": 5, "alarm": 1, "warn": 2, "stale": 0}) == "1 alarm · 2 warn · 5 ok"
    assert counts_text({"ok": 1, "weird": 2}) == "1 ok · 2 weird"
    assert counts_text({}) == "no sensors"


def test_legend_follows_severity_order():
    palette = {"ok": (0.0, 0.6, 0.45), "alarm": (0.84, 0.37, 0.0), "warn": (0.9, 0.62, 0.0)}
    items = legend(palette)
    assert [i.status for i in items] == ["alarm", "warn", "ok"]
    assert items[0].label == "Alarm" and items[0].rgb == (0.84, 0.37, 0.0)


def test_toggle_reaches_the_engine_and_the_row():
    calls = []
    vm = LayersVM(lambda name, visible: calls.append((name, visible)))
    changed = vm.update(
        [
            LayerRow("security", "Security", True, {"alarm": 1, "ok": 1}),
            LayerRow("environment", "", True, {"ok": 3}),
        ]
    )
    assert changed
    assert [(i.label, i.total, i.counts_text) for i in vm.items] == [
        ("Security", 2, "1 alarm · 1 ok"),
        ("environment", 3, "3 ok"),
    ]
    assert vm.toggle("security", False)
    assert calls == [("security", False)]
    assert vm.hidden_layers() == {"security"}
    assert not vm.toggle("nope", True)
    assert vm.error == "no layer named 'nope'" and calls == [("security", False)]


def test_engine_refusal_keeps_the_row_as_it_was():
    def refuse(name, visible):
        raise RuntimeError("overlay detached")

    vm = LayersVM(refuse)
    vm.update([LayerRow("security", "Security", True, {})])
    assert not vm.toggle("security", False)
    assert vm.items[0].visible is True
    assert vm.error == "could not hide layer 'security': overlay detached"


def test_unchanged_snapshot_reports_no_change():
    vm = LayersVM(lambda *_: None)
    rows = [LayerRow("a", "A", True, {"ok": 1})]
    assert vm.update(rows)
    assert not vm.update(list(rows))


@pytest.mark.parametrize("visible", [True, False])
def test_without_engine_toggle_is_refused(visible):
    vm = LayersVM()
    vm.update([LayerRow("a", "A", not visible, {})])
    assert not vm.toggle("a", visible)
    assert "not running" in vm.error
