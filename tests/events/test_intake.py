"""Bodies become one hint per table; foreign and malformed events are counted."""

from __future__ import annotations

from coptwin.events.hint import SourceStats
from coptwin.events.intake import EventIntake
from coptwin.events.routing import TableRouter

from .conftest import body, load_payload, retarget


def make(prefixes):
    hints, stats = [], SourceStats()
    return EventIntake(TableRouter(prefixes, "cop"), stats, hints.append), hints, stats


def test_each_storage_format_hints_the_right_table(prefixes):
    intake, hints, stats = make(prefixes)
    for name in ("aws_s3_put.json", "minio_webhook_put.json", "ceph_rgw_put.json"):
        key = "city/readings/_delta_log/00000000000000000001.json"
        doc = retarget(load_payload(name), "cop", key)
        assert intake.handle("webhook", body(doc))
    doc = retarget(load_payload("seaweedfs_filer_create.json"), "cop", "city/sensors/x.parquet")
    assert intake.handle("webhook", body(doc))
    assert [h.table for h in hints] == ["readings"] * 3 + ["sensors"]
    assert stats.get("webhook", "hints") == 4


def test_foreign_and_malformed_are_counted_never_hinted_and_any_valid_event_hints(prefixes):
    intake, hints, stats = make(prefixes)
    doc = retarget(load_payload("aws_s3_put.json"), "cop", "city/readings/_delta_log/1.json")
    assert intake.handle("webhook", body(doc))
    # the same record via the other source is a valid event too: the engine's
    # wake-up flag, not the intake, folds repeated hints into one check
    assert intake.handle("mqtt", body(doc))
    assert intake.handle("webhook", body(retarget(doc, "elsewhere", "city/readings/x")))
    assert not intake.handle("webhook", b"{broken")
    assert [(h.table, h.source) for h in hints] == [("readings", "webhook"), ("readings", "mqtt")]
    s = stats.as_dict()
    assert s["mqtt"]["hints"] == 1
    assert s["webhook"]["foreign"] == 1
    assert s["webhook"]["malformed"] == 1
    assert s["webhook"]["received"] == 3


def test_many_records_for_one_table_make_one_hint(prefixes):
    intake, hints, _ = make(prefixes)
    doc = load_payload("aws_s3_put.json")
    rec = doc["Records"][0]
    doc["Records"] = []
    for i in range(5):
        r = retarget({"Records": [rec]}, "cop", f"city/readings/part-{i}.parquet")["Records"][0]
        doc["Records"].append(r)
    intake.handle("webhook", body(doc))
    assert len(hints) == 1 and hints[0].table == "readings"


def test_deeply_nested_json_is_malformed_not_a_crash(prefixes, caplog):
    """Issue 12.6: 2,000 ``[`` (4 KB) raised RecursionError out of the intake."""
    intake, hints, stats = make(prefixes)
    assert not intake.handle("webhook", b"[" * 2000 + b"]" * 2000)
    assert not intake.handle("webhook", b'{"Records": ' + b"[" * 2000)
    assert hints == [] and stats.get("webhook", "malformed") == 2
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
