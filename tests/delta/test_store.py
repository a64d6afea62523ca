"""The one obstore builder (coptwin.storage.object_store) from deltalake storage_options;
redaction of store errors."""

from __future__ import annotations

from pathlib import Path

import obstore
import pytest
from obstore.store import LocalStore, S3Store

from coptwin.config import StorageConfig, config_from_dict
from coptwin.delta.store import safe_message
from coptwin.storage import (
    Credentials,
    config_store,
    delta_storage_options,
    is_local,
    local_path,
    object_store,
)


def test_local_uris(tmp_path):
    assert is_local(str(tmp_path)) and is_local("C:\\data\\t") and is_local("file:///tmp/x")
    assert not is_local("s3://bucket/t")
    assert local_path("file:///tmp/a%20b") == Path("/tmp/a b")
    (tmp_path / "_delta_log").mkdir()
    (tmp_path / "_delta_log" / "x.json").write_text("{}")
    store = object_store(tmp_path.as_uri())
    assert isinstance(store, LocalStore)
    assert bytes(obstore.get(store, "_delta_log/x.json").bytes()) == b"{}"


def test_s3_store_from_coptwin_storage_options():
    cfg = StorageConfig(uri="s3://bucket/pre", endpoint="http://127.0.0.1:9", allow_http=True)
    opts = delta_storage_options(cfg, Credentials("AKIAKEY", "SECRET", None, "test"))
    store = object_store("s3://bucket/pre/readings", opts)
    assert isinstance(store, S3Store)
    assert store.prefix == "pre/readings"
    assert store.config["endpoint"] == "http://127.0.0.1:9"
    assert store.config["region"] == "us-east-1"
    assert str(store.client_options["allow_http"]).lower() == "true"


def test_anonymous_s3_store_skips_signature():
    cfg = StorageConfig(uri="s3://bucket", endpoint="http://127.0.0.1:9", allow_http=True)
    store = object_store("s3://bucket/t", delta_storage_options(cfg, Credentials()))
    assert str(store.config["skip_signature"]).lower() == "true"


def test_conditional_put_and_ca_bundle_reach_the_store(monkeypatch):
    ca = pytest.importorskip("certifi").where()  # a real CA bundle (pyproj depends on certifi)
    monkeypatch.setenv("SSL_CERT_FILE", ca)  # the options also hand it to polars; restored after
    cfg = StorageConfig(
        uri="s3://bucket/pre", endpoint="https://s3.local", conditional_put="etag", ca_bundle=ca
    )
    opts = delta_storage_options(cfg, Credentials("AKIAKEY", "SECRET", None, "test"))
    store = object_store("s3://bucket/pre", opts)
    assert store.config["conditional_put"] == "etag"
    assert "root_certificate" in store.client_options


def test_config_store_roots_at_the_storage_uri_or_a_table(tmp_path):
    local = config_from_dict(
        {
            "storage": {"uri": str(tmp_path / "tables")},
            "tables": {"readings": {"path": "readings"}, "sensors": {"path": "sensors"}},
        }
    )
    store = config_store(local, "readings")
    assert isinstance(store, LocalStore) and (tmp_path / "tables" / "readings").is_dir()
    s3 = config_from_dict(
        {
            "storage": {"uri": "s3://bucket/cop/", "endpoint": "http://127.0.0.1:9"},
            "tables": {"readings": {"path": "readings"}, "sensors": {"path": "sensors"}},
        }
    )
    assert config_store(s3).prefix == "cop"
    assert config_store(s3, "readings").prefix == "cop/readings"


def test_unsupported_scheme():
    with pytest.raises(ValueError, match="gs"):
        object_store("gs://bucket/t")


def test_safe_message_removes_secrets():
    opts = {"AWS_ACCESS_KEY_ID": "AKIAXYZ", "AWS_SECRET_ACCESS_KEY": "s3cr3tvalue"}
    exc = RuntimeError("denied for AKIAXYZ with s3cr3tvalue\nsecond line X-Amz-Signature=abc")
    msg = safe_message(exc, opts)
    assert msg.startswith("RuntimeError: denied for ***")
    assert "AKIAXYZ" not in msg and "s3cr3tvalue" not in msg and "second line" not in msg
