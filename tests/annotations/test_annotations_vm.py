"""The notes section's view-model against a real store, book and stage."""

from __future__ import annotations

import pytest

from coptwin.annotations.fold import AnnotationBook
from coptwin.annotations.targets import TargetCheck
from coptwin.scene.pins import pin_name
from coptwin.ui.annotations_vm import AnnotationsVM, target_label

MARKERS = {"/COP/Markers/s1": "s1", "/COP/Markers/s2": "s2"}


@pytest.fixture()
def vm(store, stage) -> AnnotationsVM:
    return AnnotationsVM(
        AnnotationBook(),
        store,
        author="ann",
        check=TargetCheck(sensor_ids={"s1", "s2"}, stage=stage),
        sensor_for_path=MARKERS.get,
        sensor_name={"s1": "Roof temp"}.get,
        pins_scope="/COP/Annotations",
    )


def test_add_to_selected_sensor_building_and_clicked_point(vm, store):
    vm.on_stage_selection(["/COP/Markers/s1"])
    assert vm.add_label() == "Add a note to sensor Roof temp"
    assert vm.add("reads high since the roof work") and vm.error == ""
    vm.on_stage_selection(["/World/B1"])
    assert vm.add("camera view blocked")
    vm.set_clicked_point((1.0, 2.0, 3.0))
    assert vm.add_label() == "Add a note to point (1.0, 2.0, 3.0)"
    assert vm.add("puddle here") and vm.clicked_point is None
    targets = sorted(n.target for n in store.load())
    assert targets == ["/World/B1", "point:1.0,2.0,3.0", "sensor:s1"]
    # The local echo shows the notes before any watcher has read the table.
    assert len(vm.book) == 3


def test_rows_follow_selection_scope_and_status_filter(vm):
    vm.on_stage_selection(["/COP/Markers/s1"])
    vm.add("s1 note")
    vm.on_stage_selection(["/World/B1"])
    vm.add("b1 note")
    assert [r.text for r in vm.rows()] == ["b1 note"]
    vm.on_stage_selection(["/COP/Markers/s1"])
    s1 = vm.rows()[0]
    assert (s1.text, s1.target_label, s1.can_resolve) == ("s1 note", "sensor Roof temp", True)
    assert vm.resolve(s1.annotation_id)
    assert vm.rows() == []  # filter is "open"
    vm.set_status_filter("resolved")
    assert [r.text for r in vm.rows()] == ["s1 note"] and vm.rows()[0].can_reopen
    vm.set_scope("all")
    vm.set_status_filter("all")
    assert [r.text for r in vm.rows()] == ["b1 note", "s1 note"]  # newest thread first
    assert vm.counts() == {"open": 1, "resolved": 1, "all": 2}
    assert vm.reopen(s1.annotation_id)
    assert vm.counts()["open"] == 2


def test_reply_edit_and_thread_rows(vm, store):
    vm.on_stage_selection(["/World/B2"])
    vm.add("first")
    root = vm.rows()[0].annotation_id
    assert vm.reply(root, "second")
    assert vm.edit(root, "first, edited")
    rows = vm.rows()
    assert [(r.depth, r.text, r.edited) for r in rows] == [
        (0, "first, edited", True),
        (1, "second", False),
    ]
    assert rows[0].replies == 1 and rows[1].thread_id == root and not rows[1].can_resolve
    # Another reader folding the table sees the same thread.
    assert [n.text for n in store.load().thread(root)] == ["first, edited", "second"]


def test_picking_a_pin_focuses_its_thread(vm):
    vm.on_stage_selection(["/World/B1"])
    vm.add("one")
    vm.add("two")
    two = next(r for r in vm.rows() if r.text == "two")
    vm.on_stage_selection([f"/COP/Annotations/{pin_name(two.annotation_id)}"])
    assert [r.text for r in vm.rows()] == ["two"]
    assert vm.add_target() == "/World/B1"


@pytest.mark.parametrize(
    ("setup", "text", "match"),
    [
        (lambda vm: vm.on_stage_selection([]), "x", "no target"),
        (lambda vm: vm.on_stage_selection(["/World/B1"]), "   ", "empty"),
        (lambda vm: vm.on_stage_selection(["/World/B1"]), "x" * 101, "too long"),
        (lambda vm: vm.on_stage_selection(["/World/Nope"]), "x", "unknown prim"),
        (lambda vm: vm.set_author(""), "x", "author"),
    ],
)
def test_bad_input_is_an_error_message_and_writes_nothing(vm, store, setup, text, match):
    vm.on_stage_selection(["/World/B1"])
    vm.add("existing")
    version = store.version()
    setup(vm)
    assert not vm.add(text)
    assert match in vm.error
    assert store.version() == version and len(vm.book) == 1


def test_follow_up_errors_do_not_raise(vm, store):
    vm.on_stage_selection(["/World/B1"])
    vm.add("existing")
    version = store.version()
    assert not vm.reply("no-such-note", "hello") and "unknown annotation" in vm.error
    root = vm.rows()[0].annotation_id
    assert not vm.reopen(root) and "already open" in vm.error
    assert store.version() == version


def test_read_only_without_a_writer():
    vm = AnnotationsVM(AnnotationBook(), None, author="ann")
    vm.set_clicked_point((0, 0, 0))
    assert not vm.add("x") and "read-only" in vm.error


def test_target_labels():
    assert target_label("/World/Blocks/B12") == "B12"
    assert target_label("sensor:s9") == "sensor s9"
    assert target_label("point:1.25,2,3") == "point (1.2, 2.0, 3.0)"
