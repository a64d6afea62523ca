"""The fold: current state of notes from events, deterministic under duplicates and reordering."""

from __future__ import annotations

import itertools
import random

import polars as pl

from coptwin.annotations.fold import AnnotationBook, fold_events
from coptwin.annotations.schema import events_frame

from .conftest import ev


def _book(events) -> AnnotationBook:
    book = AnnotationBook()
    book.apply(events_frame(events))
    return book


def test_edit_replaces_text_and_keeps_author_and_time():
    a = ev("created", "a", "e1", 0, text="first")
    b = ev("edited", "a", "e2", 5, author="bob", text="second")
    c = ev("edited", "a", "e3", 9, text="third")
    note = fold_events([a, b, c])
    assert note.text == "third"
    assert note.author == "ann" and note.created_at == a.created_at
    assert note.edited and note.updated_by == "ann" and note.updated_at == c.created_at
    assert note.events == 3


def test_resolve_and_reopen_change_status_in_time_order():
    events = [
        ev("created", "a", "e1", 0),
        ev("resolved", "a", "e2", 1, status="resolved"),
        ev("reopened", "a", "e3", 2, status="open"),
        ev("resolved", "a", "e4", 3, status="resolved"),
    ]
    assert fold_events(events).status == "resolved"
    assert fold_events(events[:3]).status == "open"
    assert fold_events(events[:2]).status == "resolved"


def test_replies_are_children_of_their_thread():
    book = _book(
        [
            ev("created", "root", "e1", 0),
            ev("replied", "r2", "e3", 2, parent_id="root", author="cy"),
            ev("replied", "r1", "e2", 1, parent_id="root", author="bob"),
            ev("replied", "r11", "e4", 3, parent_id="r1"),
            ev("created", "other", "e5", 4, target="/World/B1"),
        ]
    )
    assert [n.annotation_id for n in book.roots()] == ["root", "other"]
    assert [n.annotation_id for n in book.replies("root")] == ["r1", "r2"]
    assert [n.annotation_id for n in book.thread("root")] == ["root", "r1", "r11", "r2"]
    assert book.root_of("r11") == "root"
    assert book.get("r1").is_reply and not book.get("root").is_reply


def test_duplicates_and_any_order_fold_to_the_same_state():
    events = [
        ev("created", "a", "e1", 0, text="v1"),
        ev("edited", "a", "e2", 1, text="v2"),
        ev("resolved", "a", "e3", 2, status="resolved"),
        ev("replied", "b", "e4", 3, parent_id="a"),
        ev("reopened", "a", "e5", 4, status="open"),
        ev("edited", "a", "e6", 5, text="v3"),
        # Same time stamp: event_id breaks the tie, so e8 (resolve) wins over e7.
        ev("reopened", "a", "e7", 6, status="open"),
        ev("resolved", "a", "e8", 6, status="resolved"),
    ]
    expected = {n.annotation_id: n for n in _book(events)}
    assert expected["a"].text == "v3" and expected["a"].status == "resolved"
    rng = random.Random(7)
    for _ in range(30):
        shuffled = events + rng.sample(events, 4)  # with duplicates
        rng.shuffle(shuffled)
        # Also split into several batches, as a watcher would deliver them.
        book = AnnotationBook()
        cut = sorted(rng.sample(range(1, len(shuffled)), 3))
        for lo, hi in itertools.pairwise([0, *cut, len(shuffled)]):
            book.apply(events_frame(shuffled[lo:hi]))
        assert {n.annotation_id: n for n in book} == expected


def test_creation_applies_first_despite_clock_skew():
    # Bob's clock is behind: his edit is stamped before Ann's creation.
    events = [ev("edited", "a", "e2", -3, author="bob", text="fixed"), ev("created", "a", "e1", 0)]
    note = fold_events(events)
    assert note.text == "fixed" and note.created_at == events[1].created_at


def test_events_before_creation_wait_for_it():
    book = AnnotationBook()
    result = book.apply(events_frame([ev("resolved", "a", "e2", 1, status="resolved")]))
    assert result.rows_applied == 1 and result.changed == [] and len(book) == 0
    result = book.apply(events_frame([ev("created", "a", "e1", 0)]))
    assert result.changed == ["a"] and book.get("a").status == "resolved"


def test_apply_reports_changed_ids_and_duplicates():
    book = AnnotationBook()
    first = book.apply(events_frame([ev("created", "a", "e1", 0), ev("created", "b", "e2", 1)]))
    assert first.changed == ["a", "b"] and first.rows_applied == 2
    again = book.apply(events_frame([ev("created", "a", "e1", 0), ev("edited", "b", "e3", 2)]))
    assert again.changed == ["b"] and again.duplicates == 1 and again.rows_applied == 1


def test_full_reload_reports_removed_and_changed_notes():
    book = _book([ev("created", "a", "e1", 0), ev("created", "b", "e2", 1)])
    result = book.apply(
        events_frame([ev("created", "b", "e2", 1), ev("created", "c", "e3", 2)]), full_reload=True
    )
    assert result.changed == ["a", "c"]
    assert "a" not in book and [n.annotation_id for n in book] == ["b", "c"]


def test_bad_rows_are_skipped_and_counted():
    good = events_frame([ev("created", "a", "e1", 0)])
    bad = pl.concat(
        [
            events_frame([ev("created", "x", "b1", 0)]).with_columns(
                annotation_id=pl.lit(None, pl.String)
            ),
            events_frame([ev("created", "x", "b2", 0)]).with_columns(event=pl.lit("deleted")),
            events_frame([ev("created", "x", "b3", 0, target=None)]),
            events_frame([ev("created", "x", "b4", 0)]).with_columns(text=pl.lit("")),
            events_frame([ev("replied", "x", "b5", 0)]),
            events_frame([ev("created", "x", "b6", 0)]).with_columns(
                created_at=pl.lit(None, pl.Datetime("us", "UTC"))
            ),
        ]
    )
    book = AnnotationBook()
    result = book.apply(pl.concat([good, bad]))
    assert result.changed == ["a"] and result.rows_in == 7 and result.rows_applied == 1
    assert result.skipped == {
        "missing_annotation_id": 1,
        "unknown_event": 1,
        "missing_target": 1,
        "missing_text": 1,
        "missing_parent": 1,
        "missing_created_at": 1,
    }
    assert sum(book.skipped.values()) == 6


def test_same_event_id_with_different_content_is_order_independent():
    a = ev("created", "a", "e1", 0, text="one")
    b = ev("created", "a", "e1", 0, text="two")
    assert {n.text for n in _book([a, b])} == {n.text for n in _book([b, a])} == {"one"}


def test_orphan_replies_are_listed_not_lost():
    book = _book([ev("replied", "r", "e1", 0, parent_id="gone")])
    assert [n.annotation_id for n in book.orphans()] == ["r"] and book.roots() == []


def test_frame_has_one_row_per_note():
    book = _book([ev("created", "a", "e1", 0), ev("replied", "b", "e2", 1, parent_id="a")])
    frame = book.frame()
    assert frame.height == 2 and frame["parent_id"].to_list() == [None, "a"]
