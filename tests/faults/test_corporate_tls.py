"""Issue 12, item 10: S3 over HTTPS with a certificate from a private (corporate) CA.

SeaweedFS serves S3 over TLS with a server certificate signed by a root CA made
for the session.  With ``storage.ca_bundle`` set, reads (an engine tick), note
writes, ``coptwin maintain`` and ``coptwin doctor`` all work; without it,
``doctor`` names the TLS failure and says how to fix it, Windows included.
Each HTTP client (delta-rs, obstore, polars) is checked to really trust the
bundle, with ``SSL_CERT_FILE`` unset.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import obstore
import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from coptwin.cli import main
from coptwin.config import load_config
from coptwin.storage import object_store

pytestmark = pytest.mark.s3

CONFIG = """
[storage]
uri = "s3://{bucket}/city"
endpoint = "{endpoint}"
{ca_line}

[tables.readings]
path = "readings"
[tables.sensors]
path = "sensors"
[tables.annotations]
path = "annotations"

[scene]
path = "{scene}"
crs = "EPSG:32618"
global_offset = {offset}

[rules.temperature]
quantity = "temperature"
warn_high = 28.0
alarm_high = 35.0
"""


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    from coptwin.scene.citygen import CityInfo, generate_city

    out = tmp_path_factory.mktemp("tls-city")
    generate_city(out, blocks_x=2, blocks_y=2)
    return CityInfo.load(out)


@pytest.fixture
def clean_env(tls_s3, monkeypatch):
    """Credentials for the TLS server; no CA from the environment (restored afterwards)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", tls_s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", tls_s3.secret_key)
    for name in ("SSL_CERT_FILE", "AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.setenv(name, "unset")  # records the old value for the undo
        monkeypatch.delenv(name)
    return monkeypatch


def _write_config(tmp_path: Path, tls_s3, city, ca_line: str) -> Path:
    bucket = f"tls-{tmp_path.name[-20:].lower().replace('_', '-')}"
    tls_s3.create_bucket(bucket)
    text = CONFIG.format(
        bucket=bucket,
        endpoint=tls_s3.https_endpoint,
        ca_line=ca_line,
        scene=city.root_layer.as_posix(),
        offset=list(city.global_offset),
    )
    path = tmp_path / "cop.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_with_ca_bundle_reads_notes_maintain_and_doctor_work(
    tls_s3, clean_env, city, tmp_path, capsys
):
    from coptwin.annotations.store import AnnotationStore
    from coptwin.engine.engine import Engine
    from coptwin.sim.feed import write_sensors
    from coptwin.sim.sensors import demo_sensors
    from coptwin.sim.writer import READINGS_SCHEMA, append_batch
    from coptwin.storage import delta_storage_options

    shutil.copy(tls_s3.files.bundle, tmp_path / "corp-bundle.pem")
    path = _write_config(tmp_path, tls_s3, city, 'ca_bundle = "corp-bundle.pem"')  # relative
    config = load_config(path)
    assert config.storage.ca_bundle == str(tmp_path / "corp-bundle.pem")

    sensors = demo_sensors(city.layout(), trackers=0)
    write_sensors(config, sensors)  # a delta-rs write over TLS
    temps = sensors.filter(pl.col("kind") == "temperature")["sensor_id"].to_list()[:5]
    now = datetime.now(timezone.utc).replace(microsecond=0)
    rows = pl.DataFrame(
        [
            {
                "sensor_id": sid,
                "ts": now - timedelta(seconds=30 + i),
                "value": 20.0 + i,
                "quantity": "temperature",
                "unit": "degC",
                "date": now.strftime("%Y-%m-%d"),
            }
            for i, sid in enumerate(temps)
        ],
        schema=READINGS_SCHEMA,
    )
    opts = delta_storage_options(config.storage)
    append_batch(config.table_uri("readings"), rows, storage_options=opts, partition_by=["date"])

    engine = Engine(config)
    try:
        stats = engine.tick()  # cold start: sensors + readings over TLS
        assert stats.rows_read == len(temps) and stats.rows_applied == len(temps)
        assert {r.status for r in engine.snapshot().sensors if r.sensor_id in temps} == {"ok"}

        store = AnnotationStore.from_config(config)
        note = store.add(f"sensor:{temps[0]}", "valve checked", "ana")
        append_batch(config.table_uri("readings"), rows, storage_options=opts)
        stats = engine.tick()  # incremental read (obstore) and the new note
        assert stats.rows_read == len(temps)
        assert note.annotation_id in {n.annotation_id for n in engine.book.roots()}
        assert store.book().get(note.annotation_id).text == "valve checked"
    finally:
        engine.close()

    assert main(["maintain", "--config", str(path), "--no-lease"]) == 0
    assert main(["doctor", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "all checks passed" in out and "TLS verifies" in out


def test_without_ca_bundle_doctor_names_the_tls_failure_and_the_remedy(
    tls_s3, clean_env, city, tmp_path, capsys
):
    path = _write_config(tmp_path, tls_s3, city, "")
    assert main(["doctor", "--config", str(path)]) == 1
    out = capsys.readouterr().out
    [line] = [ln for ln in out.splitlines() if "TLS verifies" in ln]
    assert "FAIL" in line and "not trusted" in line and str(tls_s3.https_port) in line
    for remedy in (
        "storage.ca_bundle",
        "SSL_CERT_FILE",
        "AWS_CA_BUNDLE",
        "certmgr.msc",
        "Export-Certificate",
        "certutil -encode",
    ):
        assert remedy in out, remedy
    assert "credentials accepted" in out and "TLS failed" in out  # later checks skipped


def test_a_bundle_without_the_servers_ca_is_named(tls_s3, clean_env, city, tmp_path, capsys):
    path = _write_config(tmp_path, tls_s3, city, f'ca_bundle = "{tls_s3.files.other_ca}"')
    assert main(["doctor", "--config", str(path)]) == 1
    out = capsys.readouterr().out
    assert "does not contain the CA" in out and str(tls_s3.files.other_ca) in out


def test_aws_ca_bundle_from_the_environment_is_honoured(tls_s3, clean_env, city, tmp_path, capsys):
    """No ca_bundle in the config, but the variable corporate machines set for AWS tools."""
    from coptwin.storage import delta_storage_options

    clean_env.setenv("AWS_CA_BUNDLE", str(tls_s3.files.ca))
    path = _write_config(tmp_path, tls_s3, city, "")
    config = load_config(path)
    opts = delta_storage_options(config.storage)
    now = datetime.now(timezone.utc)
    readings = pl.DataFrame({"sensor_id": ["a"], "ts": [now], "value": [1.0]})
    write_deltalake(config.table_uri("readings"), readings, storage_options=opts)
    sensors = pl.DataFrame({"sensor_id": ["a"], "kind": ["t"], "lon": [0.0], "lat": [0.0]})
    write_deltalake(config.table_uri("sensors"), sensors, storage_options=opts)
    assert main(["doctor", "--config", str(path)]) == 0
    [line] = [ln for ln in capsys.readouterr().out.splitlines() if "TLS verifies" in ln]
    assert "PASS" in line and "$AWS_CA_BUNDLE" in line


@pytest.mark.parametrize("pem", ["ca", "bundle"])
def test_each_client_trusts_the_bundle_given_as_an_option(tls_s3, clean_env, tmp_path, pem):
    """delta-rs (``certificate_path``) and obstore (``root_certificate``) without SSL_CERT_FILE."""
    cafile = str(getattr(tls_s3.files, pem))
    bucket = f"tls-clients-{pem}"
    tls_s3.create_bucket(bucket)
    opts = {
        "AWS_ENDPOINT_URL": tls_s3.https_endpoint,
        "AWS_ACCESS_KEY_ID": tls_s3.access_key,
        "AWS_SECRET_ACCESS_KEY": tls_s3.secret_key,
        "AWS_REGION": tls_s3.region,
        "AWS_CONDITIONAL_PUT": "etag",
    }
    uri = f"s3://{bucket}/t"
    with pytest.raises(OSError):  # the private CA is trusted by nobody by default
        DeltaTable(uri, storage_options=opts)
    trusted = {**opts, "certificate_path": cafile}
    write_deltalake(uri, pl.DataFrame({"a": [1, 2, 3]}), storage_options=trusted)
    assert DeltaTable(uri, storage_options=trusted).version() == 0
    store = object_store(uri, trusted)
    names = [m["path"] for chunk in obstore.list(store) for m in chunk]
    assert any(n.endswith(".parquet") for n in names)
