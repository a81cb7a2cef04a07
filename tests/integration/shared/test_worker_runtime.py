"""The shared adapter runtime on a real Celery worker process and real RabbitMQ."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection

from brandcast.shared import topology
from brandcast.shared.bus import BusPublisher, decode_task_payload
from brandcast.v1 import bus_pb2, campaign_pb2

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]
HERE = Path(__file__).resolve().parent


@pytest.fixture
def worker(broker_url: str) -> Iterator[subprocess.Popen[bytes]]:
    with BusPublisher(broker_url) as publisher:
        publisher.declare_topology()
    env = {**os.environ, "BROKER_URL": broker_url, "PYTHONPATH": str(HERE)}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "probe_adapter.py"), "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield proc
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _batch(*addresses: str) -> bus_pb2.DispatchBatch:
    return bus_pb2.DispatchBatch(
        batch_id=str(uuid.uuid4()),
        campaign_id="c1",
        channel=campaign_pb2.CHANNEL_SMS,
        items=[
            bus_pb2.DispatchItem(delivery_id=f"d-{a}", idempotency_key=f"k-{a}", address=a)
            for a in addresses
        ],
    )


def _collect_receipts(
    broker_url: str, expected: int, timeout: float = 30.0
) -> dict[str, bus_pb2.DeliveryReceipt]:
    receipts: dict[str, bus_pb2.DeliveryReceipt] = {}
    deadline = time.monotonic() + timeout
    with Connection(broker_url) as conn:
        queue = topology.receipts_queue()(conn.default_channel)
        queue.declare()
        while len(receipts) < expected and time.monotonic() < deadline:
            message = queue.get(no_ack=True)
            if message is None:
                time.sleep(0.05)
                continue
            assert message.properties["type"] == topology.RECEIPT_BATCH_TYPE
            batch = bus_pb2.ReceiptBatch.FromString(message.body)
            receipts.update({r.delivery_id: r for r in batch.receipts})
    return receipts


def _dead_letters(broker_url: str, channel: str) -> list[bus_pb2.DispatchBatch]:
    import json

    found = []
    with Connection(broker_url) as conn:
        queue = topology.dead_letter_queue(channel)(conn.default_channel)
        queue.declare()
        while (message := queue.get(no_ack=True)) is not None:
            found.append(decode_task_payload(json.loads(message.body)[0][0]))
    return found


def test_sent_permanent_and_exhausted_deliveries(
    broker_url: str, worker: subprocess.Popen[bytes]
) -> None:
    with BusPublisher(broker_url) as publisher:
        publisher.publish_dispatch(_batch("ok-1", "permanent-1", "transient-1", "ok-2"))

    receipts = _collect_receipts(broker_url, expected=4)

    assert receipts["d-ok-1"].status == campaign_pb2.DELIVERY_STATUS_SENT
    assert receipts["d-ok-1"].provider_message_id == "p-d-ok-1"
    assert receipts["d-ok-2"].status == campaign_pb2.DELIVERY_STATUS_SENT
    assert receipts["d-permanent-1"].status == campaign_pb2.DELIVERY_STATUS_FAILED
    assert receipts["d-permanent-1"].error_code == "21211"
    exhausted = receipts["d-transient-1"]
    assert exhausted.status == campaign_pb2.DELIVERY_STATUS_FAILED
    assert exhausted.attempts == 3
    (parked,) = _dead_letters(broker_url, "sms")
    assert [i.delivery_id for i in parked.items] == ["d-transient-1"]


def test_poison_message_is_bounded_and_dead_lettered(
    broker_url: str, worker: subprocess.Popen[bytes]
) -> None:
    with BusPublisher(broker_url) as publisher:
        publisher.publish_dispatch(_batch("poison"))

    receipts = _collect_receipts(broker_url, expected=1)

    assert receipts["d-poison"].status == campaign_pb2.DELIVERY_STATUS_FAILED
    assert receipts["d-poison"].error_code == "poison_message"
    (parked,) = _dead_letters(broker_url, "sms")
    assert [i.delivery_id for i in parked.items] == ["d-poison"]
    assert worker.poll() is None, "the worker must survive a poison message"


def test_undecodable_message_goes_straight_to_dead_letters(
    broker_url: str, worker: subprocess.Popen[bytes]
) -> None:
    from brandcast.shared.bus import celery_task_message

    body, headers, props = celery_task_message(topology.task_name("sms"), ["%%%not-base64"])
    with Connection(broker_url) as conn:
        producer = conn.Producer()
        producer.publish(
            body,
            exchange=topology.dispatch_exchange,
            routing_key="sms",
            headers=headers,
            content_type="application/json",
            content_encoding="utf-8",
            **props,
        )
    deadline = time.monotonic() + 20
    with Connection(broker_url) as conn:
        queue = topology.dead_letter_queue("sms")(conn.default_channel)
        queue.declare()
        message = None
        while message is None and time.monotonic() < deadline:
            message = queue.get(no_ack=True)
            time.sleep(0.05)
    assert message is not None
    body_text = message.body.decode() if isinstance(message.body, bytes) else message.body
    assert "%%%not-base64" in body_text
