"""AnnotationStore: validated appends to a real Delta table, time travel, concurrent writers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import polars as pl
import pytest
from deltalake import DeltaTable

from coptwin.annotations.model import AnnotationError
from coptwin.annotations.store import AnnotationStore
from coptwin.annotations.targets import TargetCheck
from coptwin.config import config_from_dict
from coptwin.storage import delta_storage_options


def test_add_reply_edit_resolve_reopen_round_trip(store):
    note = store.add("sensor:s1", "reads high since the roof work", "ann")
    reply = store.reply(note.annotation_id, "confirmed", "bob")
    store.edit(note.annotation_id, "reads 4 K high since the roof work", "ann")
    store.resolve(note.annotation_id, "cy")
    book = store.book()
    root = book.get(note.annotation_id)
    assert (root.text, root.status, root.author, root.updated_by) == (
        "reads 4 K high since the roof work",
        "resolved",
        "ann",
        "cy",
    )
    assert [n.annotation_id for n in book.replies(root.annotation_id)] == [reply.annotation_id]
    assert book.get(reply.annotation_id).target == "sensor:s1"
    store.reopen(note.annotation_id, "ann")
    assert store.book().get(note.annotation_id).status == "open"
    # One event per row, in canonical columns.
    events = store.read().sort("created_at")
    assert events["event"].to_list() == ["created", "replied", "edited", "resolved", "reopened"]
    assert events.schema["created_at"] == pl.Datetime("us", "UTC")


def test_history_stays_readable_by_time_travel(store):
    note = store.add("/World/B1", "camera view blocked", "ann")
    v_created = store.version()
    store.edit(note.annotation_id, "camera view blocked by scaffolding", "ann")
    store.resolve(note.annotation_id, "bob")
    then = store.load(version=v_created).get(note.annotation_id)
    now = store.load().get(note.annotation_id)
    assert (then.text, then.status) == ("camera view blocked", "open")
    assert (now.text, now.status) == ("camera view blocked by scaffolding", "resolved")
    assert [e.event for e in store.book().history(note.annotation_id)] == [
        "created",
        "edited",
        "resolved",
    ]


def test_table_is_append_only(store):
    store.add("sensor:s1", "x", "ann")
    config = DeltaTable(store.uri).metadata().configuration
    assert config.get("delta.appendOnly") == "true"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target": "sensor:s1", "text": "", "author": "ann"}, "empty"),
        ({"target": "sensor:s1", "text": "  ", "author": "ann"}, "empty"),
        ({"target": "sensor:s1", "text": "x" * 101, "author": "ann"}, "too long"),
        ({"target": "sensor:s1", "text": "ok", "author": ""}, "author"),
        ({"target": "sensor:nope", "text": "ok", "author": "ann"}, "unknown sensor"),
        ({"target": "/World/Missing", "text": "ok", "author": "ann"}, "unknown prim"),
        ({"target": "building 7", "text": "ok", "author": "ann"}, "invalid target"),
        ({"target": "point:1,2", "text": "ok", "author": "ann"}, "point"),
    ],
)
def test_bad_input_writes_nothing(store, stage, kwargs, match):
    store.add("sensor:s1", "first note", "ann")
    version = store.version()
    check = TargetCheck(sensor_ids={"s1", "s2"}, stage=stage)
    with pytest.raises(AnnotationError, match=match):
        store.add(check=check, **kwargs)
    assert store.version() == version


def test_bad_follow_ups_write_nothing(store):
    note = store.add("sensor:s1", "first note", "ann")
    reply = store.reply(note.annotation_id, "a reply", "bob")
    version = store.version()
    bad = [
        (lambda: store.reply("no-such-id", "x", "ann"), "unknown annotation"),
        (lambda: store.edit(note.annotation_id, "", "ann"), "empty"),
        (lambda: store.edit(note.annotation_id, "ok", " "), "author"),
        (lambda: store.reopen(note.annotation_id, "ann"), "already open"),
        (lambda: store.resolve(reply.annotation_id, "ann"), "is a reply"),
        (lambda: store.resolve("", "ann"), "missing annotation id"),
    ]
    for call, match in bad:
        with pytest.raises(AnnotationError, match=match):
            call()
    assert store.version() == version


def test_column_mapping_is_honoured(tmp_path):
    cfg = config_from_dict(
        {
            "storage": {"uri": str(tmp_path)},
            "tables": {
                "readings": {"path": "readings"},
                "sensors": {"path": "sensors"},
                "annotations": {
                    "path": "notes",
                    "columns": {"text": "body", "created_at": "ts", "author": "who"},
                },
            },
            "annotations": {"max_text_length": 5},
        }
    )
    store = AnnotationStore.from_config(cfg)
    note = store.add("sensor:s1", "hello", "ann")
    raw = pl.read_delta(str(tmp_path / "notes"))
    assert {"body", "ts", "who"} <= set(raw.columns) and "text" not in raw.columns
    assert raw["body"].to_list() == ["hello"]
    assert store.book().get(note.annotation_id).text == "hello"
    with pytest.raises(AnnotationError, match="at most 5"):
        store.add("sensor:s1", "hello!", "ann")


def _write_concurrently(make_store, writers: int, notes: int) -> list[str]:
    barrier = threading.Barrier(writers)

    def write(w: int) -> list[str]:
        store = make_store()  # each writer has its own client, like separate sessions
        barrier.wait()
        return [
            store.add(f"sensor:s{w}", f"note {i} from writer {w}", f"writer-{w}").annotation_id
            for i in range(notes)
        ]

    with ThreadPoolExecutor(writers) as pool:
        return [aid for ids in pool.map(write, range(writers)) for aid in ids]


def test_concurrent_writers_lose_nothing_locally(tmp_path):
    uri = str(tmp_path / "annotations")
    written = _write_concurrently(lambda: AnnotationStore(uri), writers=4, notes=25)
    book = AnnotationStore(uri).load()
    assert len(written) == 100 and {n.annotation_id for n in book} == set(written)
    spans = [[n.created_at for n in book if n.author == f"writer-{w}"] for w in range(4)]
    assert max(min(s) for s in spans) < min(max(s) for s in spans)


@pytest.mark.s3
def test_concurrent_writers_lose_nothing_on_seaweedfs(s3_server, monkeypatch):
    cfg = s3_server.bucket_config(
        monkeypatch, "annotations", ["readings", "sensors", "annotations"]
    )
    assert delta_storage_options(cfg.storage).get("AWS_CONDITIONAL_PUT") == "etag"
    written = _write_concurrently(lambda: AnnotationStore.from_config(cfg), writers=4, notes=25)
    reader = AnnotationStore.from_config(cfg)
    book = reader.load()
    assert len(written) == 100 and {n.annotation_id for n in book} == set(written)
    assert reader.read().height == 100  # no duplicate rows either
    # Every note is readable with its own text and author, and the writers really
    # overlapped in time (otherwise this would not test concurrency at all).
    assert {n.author for n in book} == {f"writer-{w}" for w in range(4)}
    spans = [[n.created_at for n in book if n.author == f"writer-{w}"] for w in range(4)]
    assert max(min(s) for s in spans) < min(max(s) for s in spans)


def test_a_commit_that_loses_the_race_is_retried(tmp_path):
    uri = str(tmp_path / "annotations")
    a = AnnotationStore(uri)
    a.add("sensor:s1", "first", "ann")
    # b's view of the table is now one version behind a's next commit, and delta-rs
    # may not retry by itself: its commit fails and the store's own retry must save it.
    b = AnnotationStore(uri, commit_retries=0, backoff_s=0.001)
    assert b.version() == a.version()
    a.add("sensor:s1", "second", "ann")
    b.add("sensor:s2", "third", "bob")
    assert b.retries == 1
    assert sorted(n.text for n in AnnotationStore(uri).load()) == ["first", "second", "third"]
