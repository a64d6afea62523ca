"""coptwin doctor against a real SeaweedFS: a good config passes, each mistake fails its check."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest
from deltalake import write_deltalake

from coptwin.cli import main
from coptwin.config import load_config
from coptwin.doctor import run_checks

READINGS = pl.DataFrame(
    {
        "device": ["s1", "s2"],
        "ts": [datetime(2024, 1, 1, tzinfo=timezone.utc)] * 2,
        "value": [1.0, 2.0],
    }
)
SENSORS = pl.DataFrame(
    {"sensor_id": ["s1", "s2"], "kind": ["t", "t"], "lon": [0.0, 1.0], "lat": [0.0, 1.0]}
)


#: Readings and sensors tables in the folder ``tables`` next to the config.
LOCAL_TABLES = """
[storage]
uri = "tables"
[tables.readings]
path = "readings"
[tables.sensors]
path = "sensors"
"""


def config_text(
    endpoint: str, bucket: str, *, readings_path="readings", sensor_col="device", extra=""
):
    return f"""
[storage]
uri = "s3://{bucket}/city"
endpoint = "{endpoint}"
allow_http = true

[tables.readings]
path = "{readings_path}"
columns = {{ sensor_id = "{sensor_col}" }}

[tables.sensors]
path = "sensors"

[tables.annotations]
path = "annotations"
{extra}
"""


@pytest.fixture(scope="module")
def tables_bucket(s3_server):
    bucket = s3_server.new_bucket("doctor")
    opts = s3_server.storage_options()
    write_deltalake(f"s3://{bucket}/city/readings", READINGS, storage_options=opts)
    write_deltalake(f"s3://{bucket}/city/sensors", SENSORS, storage_options=opts)
    return bucket


@pytest.fixture()
def env(s3_server, monkeypatch):
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    return s3_server


def write_config(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "coptwin.toml"
    p.write_text(text, encoding="utf-8")
    return p


def statuses(path: Path) -> dict[str, str]:
    return {c.name: c.status for c in run_checks(load_config(path))}


@pytest.mark.s3
def test_good_config_passes_every_check_and_exits_zero(env, tables_bucket, tmp_path, capsys):
    extra = "\n[events.webhook]\nenabled = true\nport = 0\n"
    path = write_config(tmp_path, config_text(env.endpoint, tables_bucket, extra=extra))
    assert main(["doctor", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "all checks passed" in out
    for name in (
        "endpoint reachable",
        "credentials accepted",
        "bucket exists",
        "readings: list/read",
        "readings: columns",
        "sensors: columns",
        "annotations: write permission",
        "events: webhook port bindable",
    ):
        assert f"PASS  {name}" in out, name
    assert env.secret_key not in out and env.access_key not in out


@pytest.mark.s3
def test_wrong_credentials_fail_the_credentials_check(
    env, tables_bucket, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "definitely-wrong-secret")
    path = write_config(tmp_path, config_text(env.endpoint, tables_bucket))
    st = statuses(path)
    assert st["endpoint reachable"] == "PASS"
    assert st["credentials accepted"] == "FAIL"
    assert st["bucket exists"] == "SKIP"
    assert main(["doctor", "--config", str(path)]) == 1
    out = capsys.readouterr().out
    assert "definitely-wrong-secret" not in out and "-> check the key pair" in out


@pytest.mark.s3
def test_missing_bucket_fails_the_bucket_check(env, tmp_path):
    st = statuses(write_config(tmp_path, config_text(env.endpoint, "no-such-bucket-here")))
    assert st["credentials accepted"] == "PASS"
    assert st["bucket exists"] == "FAIL"


@pytest.mark.s3
def test_missing_table_fails_its_list_read_check(env, tables_bucket, tmp_path):
    path = write_config(tmp_path, config_text(env.endpoint, tables_bucket, readings_path="nope"))
    st = statuses(path)
    assert st["readings: list/read"] == "FAIL"
    assert st["readings: columns"] == "SKIP"
    assert st["sensors: list/read"] == "PASS"


@pytest.mark.s3
def test_wrong_column_mapping_fails_the_columns_check(env, tables_bucket, tmp_path):
    path = write_config(tmp_path, config_text(env.endpoint, tables_bucket, sensor_col="sensor"))
    checks = {c.name: c for c in run_checks(load_config(path))}
    assert checks["readings: list/read"].status == "PASS"
    assert checks["readings: columns"].status == "FAIL"
    assert "sensor_id -> 'sensor'" in checks["readings: columns"].detail
    assert "tables.readings.columns" in checks["readings: columns"].remedy


def test_unreachable_endpoint_skips_what_depends_on_it(tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    st = statuses(write_config(tmp_path, config_text(f"http://127.0.0.1:{port}", "b")))
    assert st["endpoint reachable"] == "FAIL"
    assert st["credentials accepted"] == "SKIP" and st["readings: columns"] == "SKIP"


def test_plain_http_without_allow_http_fails_tls(tmp_path, monkeypatch):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        text = config_text(f"http://127.0.0.1:{srv.getsockname()[1]}", "b")
        text = text.replace("allow_http = true", "allow_http = false")
        st = statuses(write_config(tmp_path, text))
    assert st["endpoint reachable"] == "PASS" and st["TLS verifies"] == "FAIL"


def test_local_tables_webhook_port_in_use_and_json_output(tmp_path, capsys):
    tables = tmp_path / "tables"
    write_deltalake(str(tables / "readings"), READINGS)
    write_deltalake(str(tables / "sensors"), SENSORS.drop("kind"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        path = write_config(
            tmp_path,
            f"""
[storage]
uri = "tables"
[tables.readings]
path = "readings"
columns = {{ sensor_id = "device" }}
[tables.sensors]
path = "sensors"
[events.webhook]
enabled = true
port = {busy.getsockname()[1]}
[events.mqtt]
enabled = true
port = 1
""",
        )
        assert main(["doctor", "--config", str(path), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    st = {c["name"]: c["status"] for c in doc["checks"]}
    assert st["storage folder exists"] == "PASS"
    assert st["readings: columns"] == "PASS"
    assert st["sensors: columns"] == "FAIL"  # no "kind" column
    assert st["events: webhook port bindable"] == "FAIL"
    assert st["events: MQTT connect + subscribe"] == "FAIL"
    assert st["annotations: write permission"] == "SKIP"


@pytest.mark.mqtt
def test_reachable_broker_passes_the_mqtt_check(mqtt_broker, tmp_path):
    (tmp_path / "tables").mkdir()
    path = write_config(
        tmp_path,
        LOCAL_TABLES
        + f"""[events.mqtt]
enabled = true
host = "{mqtt_broker.host}"
port = {mqtt_broker.port}
topic = "cop/doctor"
""",
    )
    assert statuses(path)["events: MQTT connect + subscribe"] == "PASS"


def test_webhook_token_variable_unset_fails_its_check(tmp_path, monkeypatch, capsys):
    """Issue 12.1: doctor said "all checks passed" while the receiver could not start."""
    tables = tmp_path / "tables"
    write_deltalake(str(tables / "readings"), READINGS.rename({"device": "sensor_id"}))
    write_deltalake(str(tables / "sensors"), SENSORS)
    monkeypatch.delenv("COPTWIN_DOCTOR_HOOK_TOKEN", raising=False)
    hook = "[events.webhook]\nenabled = true\nport = 0\n"
    hook += 'auth_token_env = "COPTWIN_DOCTOR_HOOK_TOKEN"\n'
    path = write_config(tmp_path, LOCAL_TABLES + hook)
    assert main(["doctor", "--config", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  events: webhook token" in out
    assert "COPTWIN_DOCTOR_HOOK_TOKEN is not set" in out and "all checks passed" not in out
    monkeypatch.setenv("COPTWIN_DOCTOR_HOOK_TOKEN", "s3cret-hook-token")
    assert main(["doctor", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "PASS  events: webhook token" in out and "s3cret-hook-token" not in out


def test_alarms_table_and_notification_destinations(tmp_path, capsys, monkeypatch):
    """The alarms table may not exist yet; a destination whose URL variable is unset, or
    that nobody listens on, fails its line; one that listens passes (nothing is sent)."""
    tables = tmp_path / "tables"
    write_deltalake(str(tables / "readings"), READINGS)
    write_deltalake(str(tables / "sensors"), SENSORS)
    with socket.socket() as listening, socket.socket() as closed:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        monkeypatch.setenv("DOC_HOOK_OK", f"http://127.0.0.1:{listening.getsockname()[1]}/h")
        monkeypatch.setenv("DOC_HOOK_DOWN", f"http://127.0.0.1:{closed.getsockname()[1]}/h")
        monkeypatch.delenv("DOC_HOOK_UNSET", raising=False)
        path = write_config(
            tmp_path,
            """
[storage]
uri = "tables"
[tables.readings]
path = "readings"
columns = { sensor_id = "device" }
[tables.sensors]
path = "sensors"
[tables.alarms]
path = "alarms"
[[alarms.notify.webhooks]]
name = "ok"
url_env = "DOC_HOOK_OK"
[[alarms.notify.webhooks]]
name = "down"
url_env = "DOC_HOOK_DOWN"
[[alarms.notify.webhooks]]
name = "unset"
url_env = "DOC_HOOK_UNSET"
""",
        )
        assert main(["doctor", "--config", str(path), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    st = {c["name"]: (c["status"], c["detail"]) for c in doc["checks"]}
    assert st["alarms: list/read"] == (
        "PASS",
        f"{tables / 'alarms'}: not created yet (the first event creates it)",
    )
    assert st["notify: sender"][0] == "PASS" and "headless engine" in st["notify: sender"][1]
    assert st["notify: ok"][0] == "PASS"
    assert st["notify: down"][0] == "FAIL" and "cannot connect" in st["notify: down"][1]
    assert st["notify: unset"] == ("FAIL", "environment variable DOC_HOOK_UNSET is not set")


def test_for_serve_the_webhook_rides_on_the_serve_port_not_its_own(tmp_path, capsys):
    """``coptwin serve`` mounts the webhook on its own --host/--port: doctor --serve checks
    that port, and a busy events.webhook.port (which serve never binds) fails nothing."""
    (tmp_path / "tables").mkdir()
    with socket.socket() as hook, socket.socket() as page:
        hook.bind(("127.0.0.1", 0))
        hook.listen()
        page.bind(("127.0.0.1", 0))
        page.listen()
        hook_port, page_port = hook.getsockname()[1], page.getsockname()[1]
        text = LOCAL_TABLES + f"[events.webhook]\nenabled = true\nport = {hook_port}\n"
        path = write_config(tmp_path, text)

        def checks(*flags: str) -> dict[str, dict]:
            main(["doctor", "--config", str(path), "--json", *flags])
            return {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}

        run = checks()
        assert run["events: webhook port bindable"]["status"] == "FAIL"
        assert "coptwin run" in run["events: webhook port bindable"]["detail"]
        busy = checks("--serve", "--port", str(page_port))
        assert "events: webhook port bindable" not in busy
        assert busy["serve: port bindable"]["status"] == "FAIL"
        assert str(page_port) in busy["serve: port bindable"]["detail"]
        free = checks("--serve", "--port", "0")
        assert free["serve: port bindable"]["status"] == "PASS"
        hook_check = free["events: webhook"]
        assert hook_check["status"] == "PASS" and "/events" in hook_check["detail"]
        assert str(hook_port) not in hook_check["detail"]
