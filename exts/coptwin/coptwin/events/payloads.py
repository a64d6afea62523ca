"""Parse storage event bodies into ``(bucket, key)`` pairs, whatever system sent them.

Accepted, all as JSON bodies (webhook POST or MQTT message):

* AWS S3 ``{"Records": [...]}`` (keys URL-encoded, ``+`` for space), also wrapped
  in an SNS ``Notification`` envelope (SNS -> HTTPS subscription);
* MinIO ``{"EventName", "Key", "Records"}`` (keys URL-encoded like AWS);
* Ceph RGW ``{"Records": [...]}`` with ``eventSource: "ceph:s3"`` (keys not encoded);
* SeaweedFS filer webhook ``{"key": "/buckets/<bucket>/<key>", "event_type", "message"}``.

Anything else is :class:`MalformedEvent`; control messages (S3 ``s3:TestEvent``,
SNS subscription confirmations, directory entries) are valid but carry no object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, unquote_plus

#: Where the SeaweedFS filer keeps S3 buckets (its default ``buckets_folder``).
SEAWEED_BUCKETS = "/buckets/"


class MalformedEvent(ValueError):
    """The body is not an event any supported storage system sends."""


@dataclass(frozen=True)
class ObjectEvent:
    """One object touched in one bucket."""

    bucket: str | None
    key: str
    name: str


@dataclass
class Parsed:
    events: list[ObjectEvent] = field(default_factory=list)
    #: Valid messages that name no object (test events, confirmations, directories).
    ignored: int = 0
    #: For an SNS subscription confirmation: the URL an operator must visit once.
    subscribe_url: str | None = None


def _s3_record(rec: Any, i: int) -> ObjectEvent:
    if not isinstance(rec, dict):
        raise MalformedEvent(f"Records[{i}] is not an object")
    s3 = rec.get("s3")
    if not isinstance(s3, dict):
        raise MalformedEvent(f"Records[{i}].s3 missing")
    bucket = (s3.get("bucket") or {}).get("name") if isinstance(s3.get("bucket"), dict) else None
    obj = s3.get("object")
    key = obj.get("key") if isinstance(obj, dict) else None
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise MalformedEvent(f"Records[{i}].s3 lacks bucket.name or object.key")
    source = str(rec.get("eventSource", ""))
    # AWS and MinIO URL-encode keys (form encoding); Ceph RGW sends them as they are.
    if not source.startswith("ceph:"):
        key = unquote_plus(key)
    return ObjectEvent(bucket, key, str(rec.get("eventName", "")))


def _seaweed(doc: dict[str, Any], out: Parsed) -> None:
    key = doc.get("key")
    msg = doc.get("message")
    if not isinstance(key, str) or not isinstance(msg, dict):
        raise MalformedEvent("SeaweedFS event lacks key or message")
    entry = msg.get("new_entry") or msg.get("old_entry")
    if isinstance(entry, dict) and entry.get("is_directory"):
        out.ignored += 1
        return
    paths = [key]
    new_parent, new_entry = msg.get("new_parent_path"), msg.get("new_entry")
    if doc.get("event_type") == "rename" and isinstance(new_entry, dict) and new_parent:
        paths.append(f"{str(new_parent).rstrip('/')}/{new_entry.get('name', '')}")
    for path in paths:
        if path.startswith(SEAWEED_BUCKETS):
            bucket, _, obj_key = path[len(SEAWEED_BUCKETS) :].partition("/")
        else:
            bucket, obj_key = "", path  # filer path outside any bucket: foreign
        out.events.append(ObjectEvent(bucket, obj_key, str(doc.get("event_type", ""))))


def _document(doc: Any, out: Parsed, depth: int = 0) -> None:
    if not isinstance(doc, dict):
        raise MalformedEvent("event body is not a JSON object")
    if "Records" in doc:
        records = doc["Records"]
        if not isinstance(records, list):
            raise MalformedEvent("Records is not a list")
        out.events.extend(_s3_record(rec, i) for i, rec in enumerate(records))
        if not records:
            out.ignored += 1
        return
    if doc.get("Type") in ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"):
        if doc["Type"] != "Notification":
            url = doc.get("SubscribeURL")
            out.subscribe_url = url if isinstance(url, str) else None
            out.ignored += 1
            return
        if depth > 0 or not isinstance(doc.get("Message"), str):
            raise MalformedEvent("SNS notification without a JSON Message")
        try:
            inner = json.loads(doc["Message"])
        except ValueError:
            raise MalformedEvent("SNS Message is not JSON") from None
        _document(inner, out, depth + 1)
        return
    if doc.get("Event") == "s3:TestEvent":
        out.ignored += 1
        return
    if "key" in doc and "event_type" in doc:
        _seaweed(doc, out)
        return
    if isinstance(doc.get("Key"), str) and "EventName" in doc:
        # MinIO without Records (should not happen, but the top-level Key is enough).
        bucket, _, key = unquote(doc["Key"]).partition("/")
        if not key:
            raise MalformedEvent("MinIO Key has no object part")
        out.events.append(ObjectEvent(bucket, key, str(doc["EventName"])))
        return
    raise MalformedEvent("unrecognised event (expected S3 Records, SNS or SeaweedFS filer event)")


def parse_event_body(body: bytes) -> Parsed:
    """Parse one webhook/MQTT body; raises :class:`MalformedEvent` with a short reason."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MalformedEvent("body is not UTF-8 JSON") from None
    except RecursionError:  # a few KB of "[[[[" nest deeper than the decoder can go
        raise MalformedEvent("body nests too deeply to be an event") from None
    out = Parsed()
    _document(doc, out)
    return out
