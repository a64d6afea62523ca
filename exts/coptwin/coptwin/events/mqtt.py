"""MQTT 5 subscriber for storage events (MinIO's MQTT target publishes S3 event records).

QoS 1 with a persistent session (clean_start False + session expiry) so the
broker keeps messages while coptwin reconnects; paho reconnects with
exponential backoff.  paho runs its network loop in its own thread; every
message and state change is handed to the asyncio loop with
``call_soon_threadsafe``, so the hub's code only ever runs on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from coptwin.config import MqttConfig

log = logging.getLogger(__name__)

#: How long the broker keeps our session (and QoS 1 messages) while we are away.
SESSION_EXPIRY_S = 3600
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30


def default_client_id(cfg: MqttConfig) -> str:
    """Stable per host and topic, so a restarted coptwin resumes its broker session."""
    if cfg.client_id:
        return cfg.client_id
    digest = hashlib.sha1(f"{cfg.host}:{cfg.port}/{cfg.topic}".encode()).hexdigest()[:8]
    host = "".join(c for c in socket.gethostname() if c.isalnum() or c in "-_")[:32]
    return f"coptwin-{host}-{digest}"


class MqttSource:
    """Subscribes to ``cfg.topic``; ``on_body(payload)``, ``on_state(up, text)`` run on the loop."""

    name = "mqtt"

    def __init__(
        self,
        cfg: MqttConfig,
        loop: asyncio.AbstractEventLoop,
        on_body: Callable[[bytes], object],
        on_state: Callable[[bool, str], None],
    ) -> None:
        self.cfg = cfg
        self.loop = loop
        self.on_body = on_body
        self.on_state = on_state
        self.state = "connecting"
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=default_client_id(cfg),
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self.client.enable_logger(log)
        self.client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        user = os.environ.get(cfg.username_env) if cfg.username_env else None
        password = os.environ.get(cfg.password_env) if cfg.password_env else None
        if user:
            self.client.username_pw_set(user, password)
        if cfg.tls:
            self.client.tls_set(ca_certs=cfg.ca_bundle)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    # -- called from the asyncio loop ---------------------------------------------------------
    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        try:
            self.client.connect_async(
                self.cfg.host, self.cfg.port, keepalive=30, clean_start=False, properties=props
            )
        except (OSError, ValueError) as exc:  # bad host name etc.; paho keeps retrying
            self._set_state(False, f"disconnected: {exc}")
        self.client.loop_start()

    def stop(self) -> None:
        if self.client.is_connected():  # paho logs an error for a disconnect never connected
            self.client.disconnect()
        self.client.loop_stop()

    # -- called from paho's thread ------------------------------------------------------------
    def _post(self, fn: Callable[..., object], *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed during shutdown
            self.loop.call_soon_threadsafe(fn, *args)

    def _set_state(self, up: bool, text: str) -> None:
        self.state = text
        self._post(self.on_state, up, text)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._set_state(False, f"disconnected: broker refused ({reason_code})")
            return
        # Resubscribing is harmless when the broker kept the session.
        client.subscribe(self.cfg.topic, qos=1)
        log.info(
            "mqtt connected to %s:%d (session present: %s)",
            self.cfg.host,
            self.cfg.port,
            flags.session_present,
        )

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            self._set_state(False, f"disconnected: subscribe to {self.cfg.topic} refused")
        else:
            self._set_state(True, f"connected {self.cfg.host}:{self.cfg.port} {self.cfg.topic}")

    def _on_connect_fail(self, client, userdata) -> None:
        self._set_state(False, f"disconnected: cannot reach {self.cfg.host}:{self.cfg.port}")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._set_state(False, f"disconnected: {reason_code}")

    def _on_message(self, client, userdata, message) -> None:
        self._post(self._deliver, bytes(message.payload), message.mid, message.qos)

    # -- back on the loop ---------------------------------------------------------------------
    def _deliver(self, payload: bytes, mid: int, qos: int) -> None:
        """Queue the hints, then acknowledge: the broker redelivers what we never took."""
        try:
            self.on_body(payload)
        finally:
            if qos > 0:
                self.client.ack(mid, qos)
