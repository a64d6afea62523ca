"""Every storage system's real event format parses to the right bucket and decoded key."""

from __future__ import annotations

import json

import pytest

from coptwin.events.payloads import MalformedEvent, parse_event_body

from .conftest import body, load_payload, retarget

KEY = "city/readings/_delta_log/00000000000000000007.json"


@pytest.mark.parametrize(
    "fixture, bucket, key",
    [
        ("aws_s3_put.json", "amzn-s3-demo-bucket", "HappyFace.jpg"),
        ("minio_webhook_put.json", "play1", "j1.txt"),
        ("ceph_rgw_put.json", "mybucket1", "myimage1.jpg"),
        (
            "seaweedfs_filer_create.json",
            "bkt",
            "tables/readings/_delta_log/00000000000000000000.json",
        ),
        ("seaweedfs_filer_update.json", "bkt", "probe.txt"),
    ],
)
def test_documented_payloads_parse_as_published(fixture, bucket, key):
    parsed = parse_event_body(body(load_payload(fixture)))
    assert [(e.bucket, e.key) for e in parsed.events] == [(bucket, key)]


def test_aws_and_minio_keys_are_url_decoded_but_ceph_keys_are_not():
    raw = "city/readings/date=2024-01-01/part 1+x.parquet"
    for name in ("aws_s3_put.json", "minio_webhook_put.json"):
        doc = retarget(load_payload(name), "cop", raw)
        assert "+" in doc["Records"][0]["s3"]["object"]["key"]  # space encoded as '+'
        assert parse_event_body(body(doc)).events[0].key == raw
    ceph = retarget(load_payload("ceph_rgw_put.json"), "cop", raw, encode=False)
    assert parse_event_body(body(ceph)).events[0].key == raw


def test_sns_envelope_unwraps_and_confirmation_is_reported_not_fetched():
    inner = retarget(load_payload("aws_s3_put.json"), "cop", KEY)
    envelope = {"Type": "Notification", "MessageId": "1", "Message": json.dumps(inner)}
    assert parse_event_body(body(envelope)).events[0].key == KEY
    confirm = {
        "Type": "SubscriptionConfirmation",
        "SubscribeURL": "https://sns.example/confirm?x=1",
        "Token": "t",
    }
    parsed = parse_event_body(body(confirm))
    assert parsed.events == [] and parsed.subscribe_url.endswith("x=1")


def test_control_messages_and_directories_are_ignored_not_malformed():
    assert parse_event_body(body(load_payload("aws_s3_test_event.json"))).ignored == 1
    doc = load_payload("seaweedfs_filer_create.json")
    doc["message"]["new_entry"]["is_directory"] = True
    parsed = parse_event_body(body(doc))
    assert parsed.events == [] and parsed.ignored == 1


def test_seaweedfs_rename_names_both_paths_and_outside_buckets_is_foreign():
    doc = load_payload("seaweedfs_filer_update.json")
    doc["event_type"] = "rename"
    doc["message"]["new_parent_path"] = "/buckets/bkt/city/readings/_delta_log"
    doc["message"]["new_entry"]["name"] = "00000000000000000003.json"
    keys = [e.key for e in parse_event_body(body(doc)).events]
    assert keys == ["probe.txt", "city/readings/_delta_log/00000000000000000003.json"]
    doc = load_payload("seaweedfs_filer_create.json")
    doc["key"] = "/etc/something"
    assert parse_event_body(body(doc)).events[0].bucket == ""


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xff\xfe",
        b"not json",
        b"[]",
        b'{"hello": 1}',
        b'{"Records": {}}',
        b'{"Records": [1]}',
        b'{"Records": [{"s3": {"bucket": {"name": "b"}}}]}',
        b'{"Type": "Notification", "Message": "{"}',
        b'{"key": "/buckets/b/k", "event_type": "create"}',
    ],
)
def test_malformed_bodies_raise_a_clear_error(raw):
    with pytest.raises(MalformedEvent):
        parse_event_body(raw)
