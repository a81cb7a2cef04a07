"""Without RabbitMQ: the same worker runtime over kombu's filesystem transport."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from brandcast.shared import topology
from brandcast.shared.bus import BusPublisher, connect
from brandcast.v1 import bus_pb2, campaign_pb2

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
                    ],
                )
            )
        receipts: dict[str, bus_pb2.DeliveryReceipt] = {}
        with connect("filesystem://") as conn:
            queue = topology.receipts_queue()(conn.default_channel)
            queue.declare()
            deadline = time.monotonic() + 30
            while len(receipts) < 2 and time.monotonic() < deadline:
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
    finally:
        worker.terminate()
        worker.wait(15)

    assert receipts["d1"].status == campaign_pb2.DELIVERY_STATUS_SENT
    assert receipts["d2"].status == campaign_pb2.DELIVERY_STATUS_FAILED
