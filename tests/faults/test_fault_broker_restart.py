"""Scenario 2: RabbitMQ restarts in the middle of a campaign.

``rabbitmqctl stop_app`` / ``start_app`` stops the broker for a couple of
seconds (every connection drops; durable quorum queues keep their messages).
The orchestrator and the SMS worker must reconnect by themselves: no restart
of theirs, and every delivery ends final, 0 lost.

The broker restarted is a RabbitMQ node of the test's own (``rabbit_cluster.py``,
one node), not the machine's: stopping the shared one cut off every test running
beside this one (the suite runs in parallel) and every other run on the machine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from brandcast.shared.devstack import port_open, wait_until
from brandcast.v1 import campaign_pb2
from tests.faults.rabbit_cluster import RABBIT_BIN, RabbitCluster, rabbitmq_cluster
from tests.faults.rig import SmsRig, running_rig, sms_spec

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not RABBIT_BIN.exists(), reason="rabbitmq-server is not installed"),
]

SIZE = 600
OUTAGE = 2.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RabbitCluster]:
    with rabbitmq_cluster(tmp_path / "broker", size=1) as started:
        yield started


@pytest.fixture
def rig(broker: RabbitCluster, database_url: str, tmp_path: Path) -> Iterator[SmsRig]:
    yield from running_rig(
        tmp_path, broker.broker_url, database_url, extra_env={"DISPATCH_BATCH_SIZE": "50"}
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_broker_restart_mid_campaign(broker: RabbitCluster, rig: SmsRig) -> None:
    (node,) = broker.nodes
    campaign_id = rig.submit(sms_spec(SIZE))
    wait_until(lambda: rig.emulator_stats()["messages"] >= SIZE // 4, 120, "a quarter sent")
    pids = {name: rig.pid(name) for name in ("orchestrator", "sms-worker")}
    sent_at_stop = rig.emulator_stats()["messages"]
    try:
        broker.ctl(node, "stop_app")
        time.sleep(OUTAGE)  # the outage itself: how long the broker stays down
    finally:
        broker.ctl(node, "start_app")
        wait_until(lambda: port_open(node.port), 60, "RabbitMQ to listen again")
    restarted = time.monotonic()

    rig.wait_settled(campaign_id, SIZE, timeout=240)
    drained = time.monotonic() - restarted
    statuses = rig.statuses(campaign_id)
    stats = rig.emulator_stats()
    print(
        f"\nscenario=2 size={SIZE} sent_before_restart={sent_at_stop} outage={OUTAGE:.0f}s "
        f"final={sum(statuses.values())} lost={SIZE - sum(statuses.values())} "
        f"duplicates_at_provider={stats['duplicates']} drain_after_restart={drained:.1f}s"
    )
    assert statuses == {campaign_pb2.DELIVERY_STATUS_SENT: SIZE}
    # Reconnected by themselves: the same processes, still running.
    assert all(rig.alive(name) and rig.pid(name) == pid for name, pid in pids.items())
    assert len({m["delivery_ref"] for m in rig.emulator_messages()}) == SIZE
