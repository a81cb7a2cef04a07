"""Without RabbitMQ: the same worker runtime over kombu's filesystem transport."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from brandcast.shared import topology
from brandcast.shared.bus import BusPublisher, connect
from brandcast.v1 import bus_pb2, campaign_pb2
from tests.process_groups import stop_group

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.slow


def test_batch_round_trip_on_the_embedded_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROKER_FILESYSTEM_DIR", str(tmp_path / "broker"))
    env = {**os.environ, "BROKER_URL": "filesystem://", "PYTHONPATH": str(HERE)}
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "probe_adapter.py"), "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with BusPublisher("filesystem://") as publisher:
            publisher.declare_topology()
            publisher.publish_dispatch(
                bus_pb2.DispatchBatch(
                    batch_id=str(uuid.uuid4()),
                    campaign_id="c1",
                    channel=campaign_pb2.CHANNEL_SMS,
                    items=[
                        bus_pb2.DispatchItem(delivery_id="d1", address="ok-1"),
                        bus_pb2.DispatchItem(delivery_id="d2", address="permanent-1"),
                        # Retried twice through Celery, then parked: binary bodies
                        # written by Celery itself cross the filesystem transport too.
                        bus_pb2.DispatchItem(delivery_id="d3", address="transient-1"),
                    ],
                )
            )
        receipts: dict[str, bus_pb2.DeliveryReceipt] = {}
        with connect("filesystem://") as conn:
            queue = topology.receipts_queue()(conn.default_channel)
            queue.declare()
            deadline = time.monotonic() + 30
            while len(receipts) < 3 and time.monotonic() < deadline:
                message = queue.get(no_ack=True)
                if message is None:
                    time.sleep(0.05)
                    continue
                receipts.update(
                    {
                        r.delivery_id: r
                        for r in bus_pb2.ReceiptBatch.FromString(message.body).receipts
                    }
                )
            parked = topology.dead_letter_queue("sms")(conn.default_channel)
            parked.declare()
            while (dead := parked.get(no_ack=True)) is None and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        stop_group(worker, timeout=15)

    assert receipts["d1"].status == campaign_pb2.DELIVERY_STATUS_SENT
    assert receipts["d2"].status == campaign_pb2.DELIVERY_STATUS_FAILED
    assert receipts["d3"].status == campaign_pb2.DELIVERY_STATUS_FAILED
    assert receipts["d3"].attempts == 3
    assert dead is not None
    assert dead.content_type == topology.PROTOBUF_CONTENT_TYPE
    assert dead.properties["type"] == topology.DISPATCH_BATCH_TYPE
    assert [i.delivery_id for i in bus_pb2.DispatchBatch.FromString(dead.body).items] == ["d3"]


_BIND_AT = """
import sys, time
from brandcast.shared import topology
from brandcast.shared.bus import connect
channel, start = sys.argv[1], float(sys.argv[2])
with connect("filesystem://") as conn:
    default = conn.default_channel
    while time.time() < start:
        pass
    topology.dispatch_queue(channel)(default).declare()
"""


def test_workers_binding_at_the_same_moment_keep_every_binding(tmp_path: Path) -> None:
    """The demo starts the three workers together; each binds its queue as it
    connects. kombu's filesystem transport used to lose all but one binding when
    the exchange's table did not exist yet (seen in 13 of 20 rounds), and the
    channels whose binding was lost never received a batch."""
    channels = list(topology.CHANNEL_NAMES.values())
    for round_ in range(5):
        folder = tmp_path / f"broker-{round_}"
        env = {**os.environ, "BROKER_FILESYSTEM_DIR": str(folder)}
        start = time.time() + 2.0  # every process connected and spinning by then
        binders = [
            subprocess.Popen([sys.executable, "-c", _BIND_AT, channel, str(start)], env=env)
            for channel in channels
        ]
        assert [binder.wait(30) for binder in binders] == [0] * len(channels)
        table = json.loads((folder / "control" / "brandcast.dispatch.exchange").read_text())
        assert sorted(queue for _key, _pattern, queue in table) == sorted(
            topology.dispatch_queue_name(channel) for channel in channels
        ), f"round {round_}"


def test_a_message_being_written_is_never_taken_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kombu's own transport created the file, then wrote it: a consumer that came
    between read an empty message, failed to decode it and had deleted it."""
    monkeypatch.setenv("BROKER_FILESYSTEM_DIR", str(tmp_path / "broker"))
    with connect("filesystem://") as writing, connect("filesystem://") as reading:
        sent, taken = writing.SimpleQueue("whole"), reading.SimpleQueue("whole")
        seen_while_written: list[object] = []
        rename = os.replace

        def take_then_rename(src: str, dst: str) -> None:
            # The moment kombu's consumer used to catch: the bytes are on disk,
            # the message is not in the queue yet.
            try:
                seen_while_written.append(taken.get(timeout=0.01).payload)
            except queue.Empty:
                seen_while_written.append(None)
            rename(src, dst)

        monkeypatch.setattr(os, "replace", take_then_rename)
        sent.put({"n": 1})
        monkeypatch.setattr(os, "replace", rename)
        assert seen_while_written == [None]
        message = taken.get(timeout=5)
        assert message.payload == {"n": 1}
        message.ack()


def test_every_message_arrives_once_while_another_thread_publishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROKER_FILESYSTEM_DIR", str(tmp_path / "broker"))
    count = 2000

    def publish() -> None:
        with connect("filesystem://") as writing:
            sent = writing.SimpleQueue("busy")
            for n in range(count):
                sent.put({"n": n})

    with connect("filesystem://") as reading:
        taken = reading.SimpleQueue("busy")
        writer = threading.Thread(target=publish)
        writer.start()
        received: list[int] = []
        deadline = time.monotonic() + 120
        while len(received) < count and time.monotonic() < deadline:
            try:
                message = taken.get(timeout=1)
            except queue.Empty:
                continue
            received.append(message.payload["n"])
            message.ack()
        writer.join()
    assert sorted(received) == list(range(count))
