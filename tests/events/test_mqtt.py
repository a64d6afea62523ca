"""MQTT 5 subscriber against a real mosquitto: delivery, reconnect, persistent session."""

from __future__ import annotations

import asyncio

import paho.mqtt.client as mqtt
import pytest

from coptwin.config import MqttConfig
from coptwin.events.mqtt import MqttSource, default_client_id
from tests.support.wait import until

from .conftest import body, load_payload

pytestmark = pytest.mark.mqtt


def publish(broker, topic: str, payload: bytes) -> None:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        c.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        c.disconnect()
        c.loop_stop()


def make_source(broker, topic: str, client_id: str, bodies: list, states: list) -> MqttSource:
    cfg = MqttConfig(
        enabled=True, host=broker.host, port=broker.port, topic=topic, client_id=client_id
    )
    loop = asyncio.get_running_loop()
    return MqttSource(cfg, loop, bodies.append, lambda up, text: states.append((up, text)))


def test_messages_arrive_on_the_loop_and_state_tracks_the_connection(mqtt_broker):
    payload = body(load_payload("minio_webhook_put.json"))

    async def main():
        bodies, states = [], []
        src = make_source(mqtt_broker, "cop/t1", "coptwin-test-t1", bodies, states)
        src.start()
        try:
            await until(lambda: states and states[-1][0])
            assert src.state.startswith("connected")
            await asyncio.to_thread(publish, mqtt_broker, "cop/t1", payload)
            await until(lambda: bodies)
        finally:
            src.stop()
        return bodies

    assert asyncio.run(main()) == [payload]


def test_reconnects_after_broker_restart_and_gets_new_messages(mqtt_broker):
    async def main():
        bodies, states = [], []
        src = make_source(mqtt_broker, "cop/t2", "coptwin-test-t2", bodies, states)
        src.start()
        try:
            await until(lambda: states and states[-1][0])
            await asyncio.to_thread(mqtt_broker.stop)
            await until(lambda: not states[-1][0])
            assert src.state.startswith("disconnected")
            await asyncio.to_thread(mqtt_broker.start)
            await until(lambda: states[-1][0], timeout=40)
            await asyncio.to_thread(publish, mqtt_broker, "cop/t2", b'{"after": 1}')
            await until(lambda: bodies)
        finally:
            src.stop()
            if not mqtt_broker.running:
                mqtt_broker.start()
        return bodies

    assert asyncio.run(main()) == [b'{"after": 1}']


def test_persistent_session_keeps_messages_published_while_away(mqtt_broker):
    async def main():
        bodies, states = [], []
        first = make_source(mqtt_broker, "cop/t3", "coptwin-test-t3", bodies, states)
        first.start()
        await until(lambda: states and states[-1][0])
        first.stop()
        await asyncio.to_thread(publish, mqtt_broker, "cop/t3", b'{"while": "away"}')
        states.clear()
        second = make_source(mqtt_broker, "cop/t3", "coptwin-test-t3", bodies, states)
        second.start()
        try:
            await until(lambda: bodies)
        finally:
            second.stop()
        return bodies

    assert asyncio.run(main()) == [b'{"while": "away"}']


def test_unreachable_broker_reports_disconnected():
    async def main():
        states = []
        cfg = MqttConfig(enabled=True, host="127.0.0.1", port=1, topic="x", client_id="c")
        loop = asyncio.get_running_loop()
        src = MqttSource(cfg, loop, lambda b: None, lambda *s: states.append(s))
        src.start()
        try:
            await until(lambda: states)
        finally:
            src.stop()
        return states, src.state

    states, state = asyncio.run(main())
    assert states[0][0] is False and state.startswith("disconnected")


def test_default_client_id_is_stable_and_respects_config():
    cfg = MqttConfig(topic="a/b")
    assert default_client_id(cfg) == default_client_id(MqttConfig(topic="a/b"))
    assert default_client_id(cfg) != default_client_id(MqttConfig(topic="a/c"))
    assert default_client_id(MqttConfig(client_id="mine")) == "mine"
