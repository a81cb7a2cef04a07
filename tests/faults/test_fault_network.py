"""Scenario 10: the network between the SMS worker and the broker fails.

The worker reaches RabbitMQ only through ``TcpProxy`` (loopback). Mid-campaign
the proxy cuts every connection and refuses new ones for a moment, later it
delays every packet; the worker must reconnect by itself and nothing is lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from brandcast.shared.devstack import wait_until
from brandcast.v1 import campaign_pb2
from tests.faults.rig import SmsRig, running_rig, sms_spec
from tests.faults.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

SIZE = 600


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    proxy = TcpProxy(5672)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def rig(broker_url: str, database_url: str, tmp_path: Path, proxy: TcpProxy) -> Iterator[SmsRig]:
    for rig in running_rig(
        tmp_path, broker_url, database_url, workers=0, extra_env={"DISPATCH_BATCH_SIZE": "50"}
    ):
        proxied = broker_url.replace("127.0.0.1:5672", f"127.0.0.1:{proxy.port}")
        rig.start("sms-worker", {"BROKER_URL": proxied})
        yield rig


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_worker_recovers_from_cut_and_slow_broker_links(rig: SmsRig, proxy: TcpProxy) -> None:
    campaign_id = rig.submit(sms_spec(SIZE))
    wait_until(lambda: rig.emulator_stats()["messages"] >= SIZE // 4, 120, "a quarter sent")

    proxy.refuse(True)
    cut = proxy.cut()
    time.sleep(2)  # the partition lasts a moment: the worker's reconnects are refused
    proxy.refuse(False)
    sent_at_cut = rig.emulator_stats()["messages"]
    wait_until(
        lambda: rig.emulator_stats()["messages"] >= sent_at_cut + SIZE // 4,
        120,
        "sending to resume after the cut",
    )
    proxy.delay = 0.05
    drained = rig.wait_settled(campaign_id, SIZE, timeout=180)

    statuses = rig.statuses(campaign_id)
    stats = rig.emulator_stats()
    print(
        f"\nscenario=10 size={SIZE} connections_cut={cut} reconnections={proxy.accepted - 1} "
        f"final={sum(statuses.values())} lost={SIZE - sum(statuses.values())} "
        f"duplicates_at_provider={stats['duplicates']} seconds_after_cut={drained:.1f}"
    )
    assert statuses == {campaign_pb2.DELIVERY_STATUS_SENT: SIZE}
    assert cut >= 1
    assert proxy.accepted >= 2
    assert rig.alive("sms-worker")
    # Only the batch the worker held when its link died may be sent again (batch of 50,
    # one message in flight per worker process, one more being received).
    assert stats["duplicates"] <= 2 * 50
    assert len({m["delivery_ref"] for m in rig.emulator_messages()}) == SIZE
