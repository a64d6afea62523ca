"""The shared service fixtures work: real SeaweedFS takes Delta writes and posts filer events."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.error
import urllib.request
from datetime import datetime, timezone

import paho.mqtt.client as mqtt
import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from tests.support.servers import sigv4_headers
from tests.support.wait import wait_until


@pytest.mark.s3
def test_signed_requests_with_a_wrong_secret_are_rejected(s3_running):
    url = f"{s3_running.endpoint}/coptwin-ready"
    now = datetime.now(timezone.utc)
    for secret, ok in ((s3_running.secret_key, True), ("wrong-secret", False)):
        headers = sigv4_headers("GET", url, s3_running.access_key, secret, "us-east-1", b"", now)
        req = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert (status == 200) is ok, status


@pytest.mark.s3
def test_s3_server_takes_delta_writes_and_posts_filer_events(s3_running):
    s3 = s3_running
    got: list[dict] = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    s3.webhook_target = f"http://127.0.0.1:{srv.server_address[1]}/events"
    try:
        bucket = s3.new_bucket("smoke")
        uri = f"s3://{bucket}/tables/readings"
        write_deltalake(uri, pl.DataFrame({"a": [1, 2]}), storage_options=s3.storage_options())
        assert DeltaTable(uri, storage_options=s3.storage_options()).version() == 0
        key = f"/buckets/{bucket}/tables/readings/_delta_log/00000000000000000000.json"
        wait_until(lambda: any(e.get("key") == key for e in got), what=f"a filer event for {key}")
    finally:
        s3.webhook_target = None
        srv.shutdown()
        srv.server_close()


@pytest.mark.mqtt
def test_mqtt_broker_round_trip(mqtt_broker):
    got = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.on_message = lambda *a: got.set()
    c.on_connect = lambda cl, *a: cl.subscribe("t/x", qos=1)
    c.connect(mqtt_broker.host, mqtt_broker.port)
    c.loop_start()
    try:

        def delivered() -> bool:  # publish until the subscription is up and one arrives
            c.publish("t/x", b"hi", qos=1)
            return got.wait(0.2)

        wait_until(delivered, 10, 0, what="a message through the broker")
    finally:
        c.loop_stop()
        c.disconnect()
