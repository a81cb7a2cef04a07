"""Real ``brandcast-sms worker`` processes on the test vhost, sending to the emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection

from brandcast.shared import topology
from brandcast.shared.bus import BusPublisher
from brandcast.sms.emulator import EmulatorServer
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2

pytestmark = pytest.mark.rabbitmq


def read_receipts(connection: Connection, into: list[bus_pb2.DeliveryReceipt]) -> int:
    queue = topology.receipts_queue()(connection.default_channel)
    queue.declare()
    while (message := queue.get(no_ack=True)) is not None:
        if message.properties["type"] == topology.RECEIPT_BATCH_TYPE:
            into.extend(bus_pb2.ReceiptBatch.FromString(message.body).receipts)
    return len(into)


def consumers(connection: Connection) -> int:
    try:
        channel = connection.channel()
        try:
            _, _, count = channel.queue_declare(topology.dispatch_queue_name("sms"), passive=True)
        finally:
            channel.close()
    except Exception:  # the worker has not declared the queue yet
        return 0
    return int(count)


@pytest.fixture
def start_worker(
    broker_url: str, emulator: EmulatorServer, redis_namespace: str, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str, **env: str) -> subprocess.Popen[bytes]:
        environment = {
            **os.environ,
            "BROKER_URL": broker_url,
            "SMS_TWILIO_BASE_URL": emulator.url,
            "SMS_REDIS_NAMESPACE": redis_namespace,
            "SMS_RATE_LIMIT": "0",
            "SMS_RETRY_BASE_DELAY": "0.2",
            # No webhooks in these tests: the emulator's callbacks fail harmlessly.
            "SMS_CALLBACK_BASE_URL": "http://127.0.0.1:9",
            **env,
        }
        log = (tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "brandcast.sms.cli",
                "worker",
                "--concurrency",
                "1",
                "--hostname",
                f"{name}@%h",
            ],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def sms_item(delivery_id: str, address: str) -> bus_pb2.DispatchItem:
    return bus_pb2.DispatchItem(
        delivery_id=delivery_id,
        idempotency_key=f"key-{delivery_id}",
        address=address,
        sms=variant_pb2.SmsVariant(text=f"Hello {delivery_id}", sender="+15005550006"),
    )


def test_worker_delivers_a_batch_and_publishes_receipts(
    broker_url: str,
    emulator: EmulatorServer,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    wait_for: Callable[..., Any],
) -> None:
    emulator.add_fault("+447400000002", "429", retry_after=1)
    start_worker("sms1")
    batch = bus_pb2.DispatchBatch(
        batch_id="batch-1",
        campaign_id="camp-1",
        channel=campaign_pb2.CHANNEL_SMS,
        items=[
            sms_item("ok", "+447400000001"),
            sms_item("throttled", "+447400000002"),
            sms_item("premium", "+449001234567"),
            sms_item("landline", "+442071234567"),
        ],
    )
    receipts: list[bus_pb2.DeliveryReceipt] = []
    with Connection(broker_url) as connection, BusPublisher(broker_url) as publisher:
        publisher.publish_dispatch(batch)
        wait_for(lambda: read_receipts(connection, receipts) >= 4, 60, "four receipts")
    by_id = {r.delivery_id: r for r in receipts}
    assert set(by_id) == {"ok", "throttled", "premium", "landline"}
    sent = campaign_pb2.DELIVERY_STATUS_SENT
    assert (by_id["ok"].status, by_id["ok"].attempts, by_id["ok"].provider) == (sent, 1, "twilio")
    assert (by_id["throttled"].status, by_id["throttled"].attempts) == (sent, 2)
    assert by_id["premium"].error_code == "premium_rate"
    assert by_id["landline"].error_code == "landline"
    for refused in ("premium", "landline"):
        assert by_id[refused].status == campaign_pb2.DELIVERY_STATUS_FAILED
    messages = emulator.messages()
    assert sorted(m["to"] for m in messages) == ["+447400000001", "+447400000002"]
    assert {m["sid"] for m in messages} == {
        by_id["ok"].provider_message_id,
        by_id["throttled"].provider_message_id,
    }
    assert all(r.campaign_id == "camp-1" for r in receipts)


@pytest.mark.slow
def test_rate_limit_holds_across_two_worker_processes(
    broker_url: str,
    emulator: EmulatorServer,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    wait_for: Callable[..., Any],
) -> None:
    rate, count = 5.0, 16
    for name in ("sms1", "sms2"):
        start_worker(name, SMS_RATE_LIMIT=str(rate))
    receipts: list[bus_pb2.DeliveryReceipt] = []
    with Connection(broker_url) as connection, BusPublisher(broker_url) as publisher:
        wait_for(lambda: consumers(connection) == 2, 60, "both workers consuming")
        for number in range(count // 2):
            publisher.publish_dispatch(
                bus_pb2.DispatchBatch(
                    batch_id=f"b{number}",
                    campaign_id="camp-rate",
                    channel=campaign_pb2.CHANNEL_SMS,
                    items=[
                        sms_item(f"d{number}a", f"+4474000{number:05d}"),
                        sms_item(f"d{number}b", f"+4475000{number:05d}"),
                    ],
                )
            )
        wait_for(lambda: read_receipts(connection, receipts) >= count, 60, "all receipts")
    assert all(r.status == campaign_pb2.DELIVERY_STATUS_SENT for r in receipts)
    messages = emulator.messages()
    assert len(messages) == count
    # Both processes did send (their pid is in the User-Agent) ...
    pids = {re.search(r"pid (\d+)", m["user_agent"]).group(1) for m in messages}  # type: ignore[union-attr]
    assert len(pids) == 2
    # ... and together they stayed under the shared limit: with one message per
    # 1/rate seconds, any k+1 consecutive arrivals span at least k/rate seconds.
    # The limiter spaces the grants exactly; arrivals add the scheduling and network
    # jitter of two busy processes on two cores, which the 0.25 s tolerance absorbs.
    # Each process limiting only itself would send at twice the rate and fail here.
    arrivals = sorted(m["received_at"] for m in messages)
    for window in (int(rate), count - 1):
        for start in range(count - window):
            span = arrivals[start + window] - arrivals[start]
            assert span >= window / rate - 0.25, (window, start, span)
