"""Live propagation: a note written in one session appears in another session's overlay."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pxr import Sdf

from coptwin.annotations.fold import AnnotationBook
from coptwin.annotations.store import AnnotationStore
from coptwin.scene import pins


@dataclass
class Host:
    layer: Sdf.Layer
    root_path: str = "/COP"
    meters_per_unit: float = 1.0
    up_axis: str = "Y"


class Session:
    """What one Kit session or headless engine holds: a writer, a feed, an overlay."""

    def __init__(self, uri: str, options: dict[str, str] | None, name: str) -> None:
        self.store = AnnotationStore(uri, storage_options=options)
        self.feed = self.store.eventlog.follow(AnnotationBook())
        self.host = Host(Sdf.Layer.CreateAnonymous(f"{name}.usda"))
        self.resolve = pins.TargetResolver(sensor_positions={"s1": (5.0, 1.0, 5.0)})

    def tick(self) -> list[str]:
        """One engine tick for notes: read what is new, refresh the changed pins."""
        result = self.feed.poll()
        if result is None:
            return []
        pins.apply(self.host, self.feed.book, self.resolve, changed=result.changed)
        return result.changed

    def pin_text(self, annotation_id: str) -> str | None:
        path = pins.pin_path(self.host, annotation_id).AppendProperty(pins.ATTR_TEXT)
        attr = self.host.layer.GetAttributeAtPath(path)
        return attr.default if attr is not None else None

    def pin_status(self, annotation_id: str) -> str | None:
        path = pins.pin_path(self.host, annotation_id).AppendProperty(pins.ATTR_STATUS)
        attr = self.host.layer.GetAttributeAtPath(path)
        return attr.default if attr is not None else None


def _round_trip(uri: str, options: dict[str, str] | None) -> None:
    a, b = Session(uri, options, "a"), Session(uri, options, "b")
    assert a.tick() == [] and b.tick() == []  # no table yet: no notes, no error
    note = a.store.add("sensor:s1", "reads high since the roof work", "ann")
    assert b.pin_text(note.annotation_id) is None
    assert b.tick() == [note.annotation_id]
    assert b.pin_text(note.annotation_id) == "reads high since the roof work"
    # B answers and resolves; A sees both on its next tick.
    reply = b.store.reply(note.annotation_id, "checked, sun on the sensor", "bob")
    b.store.resolve(note.annotation_id, "bob")
    assert set(a.tick()) == {note.annotation_id, reply.annotation_id}
    assert a.pin_status(note.annotation_id) == "resolved"
    assert a.feed.book.replies(note.annotation_id)[0].text == "checked, sun on the sensor"
    assert a.tick() == []  # nothing new: nothing re-read, nothing rewritten
    assert a.feed.version == a.store.version()


def test_note_from_one_session_reaches_another_locally(tmp_path):
    _round_trip(str(tmp_path / "annotations"), None)


@pytest.mark.s3
def test_note_from_one_session_reaches_another_on_seaweedfs(s3_server):
    bucket = s3_server.new_bucket("annotations-live")
    _round_trip(f"s3://{bucket}/cop/annotations", s3_server.storage_options())
