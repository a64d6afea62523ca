"""Building the table's obstore store from deltalake storage_options; redaction."""

from __future__ import annotations

from pathlib import Path

import obstore
import pytest
from obstore.store import LocalStore, S3Store

from coptwin.config import StorageConfig
from coptwin.delta.store import is_local, local_path, safe_message, table_store
from coptwin.storage import Credentials, delta_storage_options


def test_local_uris(tmp_path):
    assert is_local(str(tmp_path)) and is_local("C:\\data\\t") and is_local("file:///tmp/x")
    assert not is_local("s3://bucket/t")
    assert local_path("file:///tmp/a%20b") == Path("/tmp/a b")
    (tmp_path / "_delta_log").mkdir()
    (tmp_path / "_delta_log" / "x.json").write_text("{}")
    store = table_store(tmp_path.as_uri())
    assert isinstance(store, LocalStore)
    assert bytes(obstore.get(store, "_delta_log/x.json").bytes()) == b"{}"


def test_s3_store_from_coptwin_storage_options():
    cfg = StorageConfig(uri="s3://bucket/pre", endpoint="http://127.0.0.1:9", allow_http=True)
    opts = delta_storage_options(cfg, Credentials("AKIAKEY", "SECRET", None, "test"))
    store = table_store("s3://bucket/pre/readings", opts)
    assert isinstance(store, S3Store)
    assert store.prefix == "pre/readings"
    assert store.config["endpoint"] == "http://127.0.0.1:9"
    assert store.config["region"] == "us-east-1"
    assert str(store.client_options["allow_http"]).lower() == "true"


def test_anonymous_s3_store_skips_signature():
    cfg = StorageConfig(uri="s3://bucket", endpoint="http://127.0.0.1:9", allow_http=True)
    store = table_store("s3://bucket/t", delta_storage_options(cfg, Credentials()))
    assert str(store.config["skip_signature"]).lower() == "true"


def test_unsupported_scheme():
    with pytest.raises(ValueError, match="gs"):
        table_store("gs://bucket/t")


def test_safe_message_removes_secrets():
    opts = {"AWS_ACCESS_KEY_ID": "AKIAXYZ", "AWS_SECRET_ACCESS_KEY": "s3cr3tvalue"}
    exc = RuntimeError("denied for AKIAXYZ with s3cr3tvalue\nsecond line X-Amz-Signature=abc")
    msg = safe_message(exc, opts)
    assert msg.startswith("RuntimeError: denied for ***")
    assert "AKIAXYZ" not in msg and "s3cr3tvalue" not in msg and "second line" not in msg
