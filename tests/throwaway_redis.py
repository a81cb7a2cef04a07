"""A redis-server of a test's own, on a free loopback port, that the test can stop.

For Redis outages: the shared Redis on 6379 must never be stopped, so a test that
needs one to go away starts its own and stops it. ``deliver_across_an_outage`` is
the check every adapter's outage test makes.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import redis

from brandcast.shared.adapter import Adapter, DeliveryPerProcess
from brandcast.shared.delivery import process_batch
from brandcast.shared.devstack import free_port
from brandcast.v1 import bus_pb2, campaign_pb2


class ThrowawayRedis:
    """A redis-server of our own on a free loopback port, which a test can stop."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.stop()
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        """The outage: the server is gone, its port refuses connections."""
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)


def deliver_across_an_outage(
    redis_server: ThrowawayRedis,
    adapter: Adapter[Any],
    settings: Any,
    before: bus_pb2.DispatchBatch,
    during: bus_pb2.DispatchBatch,
) -> None:
    """Deliver ``before`` through the adapter as the kit builds it, stop Redis, deliver
    ``during``: the first is sent; every item of the second comes back as a retry, none
    failed, and nothing escapes (an exception would take the poison-message path)."""
    deliver = DeliveryPerProcess(adapter.build, settings)()
    policy = adapter.retry_policy(settings)
    sent = process_batch(before, deliver, policy)
    assert [(r.status, r.error_code) for r in sent.receipts] == [
        (campaign_pb2.DELIVERY_STATUS_SENT, "") for _ in before.items
    ]
    redis_server.stop()
    held = process_batch(during, deliver, policy)
    assert held.receipts == []
    assert held.exhausted is None
    assert held.retry is not None
    assert [i.delivery_id for i in held.retry.items] == [i.delivery_id for i in during.items]
    assert all(i.attempt == 1 for i in held.retry.items)
