"""Helpers for the events tests: real-format payloads retargeted at test tables, configs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from coptwin.config import Config, config_from_dict

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"


def load_payload(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def retarget(doc: Any, bucket: str, key: str, *, encode: bool = True) -> Any:
    """The same real payload, naming ``bucket``/``key`` (URL-encoded like the sender does)."""
    doc = copy.deepcopy(doc)
    if "Records" in doc:
        for rec in doc["Records"]:
            rec["s3"]["bucket"]["name"] = bucket
            rec["s3"]["object"]["key"] = quote_plus(key, safe="/") if encode else key
        if "Key" in doc:
            doc["Key"] = f"{bucket}/{key}"
    elif "event_type" in doc:
        doc["key"] = f"/buckets/{bucket}/{key}"
        parent, _, name = doc["key"].rpartition("/")
        for entry in ("new_entry", "old_entry"):
            if entry in doc["message"]:
                doc["message"][entry]["name"] = name
        doc["message"]["new_parent_path"] = parent
    return doc


def body(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def make_config(bucket: str = "cop", **events: Any) -> Config:
    data: dict[str, Any] = {
        "storage": {"uri": f"s3://{bucket}/city", "endpoint": "http://127.0.0.1:1"},
        "tables": {
            "readings": {"path": "readings"},
            "sensors": {"path": "sensors"},
        },
        "events": events,
    }
    return config_from_dict(data)


@pytest.fixture()
def prefixes() -> dict[str, str]:
    return {"readings": "city/readings", "sensors": "city/sensors"}
