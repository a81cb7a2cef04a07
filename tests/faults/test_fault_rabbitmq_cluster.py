"""Scenario 20: a 3-node RabbitMQ cluster loses the node leading the queues.

A throwaway cluster on loopback (``rabbit_cluster.py``: three nodes with their
own names, ports and data directories, joined with ``rabbitmqctl``). The
orchestrator and the SMS worker get every node in ``BROKER_URL``
(``;``-separated). Mid-dispatch of a 10,000-recipient campaign the node that
leads the SMS quorum queue is stopped: the queue elects a leader on a
surviving node, the services reconnect to the next URL by themselves, every
delivery ends final, none is lost, and duplicates at the provider are counted
and bounded by what was in flight.

Starting the cluster takes ~30 s here; the machine's own RabbitMQ (5672) is not
touched, and every node started is stopped at the end.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from brandcast.shared.devstack import wait_until
from brandcast.shared.topology import dispatch_queue
from brandcast.v1 import campaign_pb2
from tests.faults.rabbit_cluster import RABBIT_BIN, RabbitCluster, rabbitmq_cluster
from tests.faults.rig import SmsRig, running_rig, sms_spec

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not RABBIT_BIN.exists(), reason="rabbitmq-server is not installed"),
    # 143 s alone; beside two other workers and a benchmark it took 215 s (par. run 1)
    # and over 300 s (run 2): three Erlang VMs and 10,000 SMS on 2 shared cores.
    pytest.mark.timeout(600),
]

SIZE = int(os.environ.get("FAULTS_CLUSTER_SIZE", "10000"))
BATCH = 100
WORKERS = 2


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RabbitCluster]:
    with rabbitmq_cluster(tmp_path / "cluster") as started:
        yield started


@pytest.fixture
def rig(cluster: RabbitCluster, tmp_path: Path) -> Iterator[SmsRig]:
    database_url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    yield from running_rig(
        tmp_path,
        cluster.broker_url,
        database_url,
        workers=WORKERS,
        extra_env={"DISPATCH_BATCH_SIZE": str(BATCH)},
    )


def test_losing_the_queue_leader_mid_dispatch_loses_nothing(
    cluster: RabbitCluster, rig: SmsRig
) -> None:
    campaign_id = rig.submit(sms_spec(SIZE))
    wait_until(lambda: rig.emulator_stats()["messages"] >= SIZE // 5, 300, "a fifth sent")
    sms_queue = dispatch_queue("sms").name
    leaders = cluster.queue_leaders()
    leader = cluster.node_named(leaders[sms_queue])
    pids = {name: rig.pid(name) for name in ("orchestrator", "sms-worker")}
    sent_at_stop = rig.emulator_stats()["messages"]
    stopped_at = time.monotonic()
    cluster.stop_node(leader)

    rig.wait_settled(campaign_id, SIZE, timeout=600)
    drained = time.monotonic() - stopped_at
    new_leader = cluster.queue_leaders()[sms_queue]
    statuses = rig.statuses(campaign_id)
    stats = rig.emulator_stats()
    per_delivery = Counter(m["delivery_ref"] for m in rig.emulator_messages())
    sent_twice = sum(1 for n in per_delivery.values() if n > 1)
    print(
        f"\nscenario=20 size={SIZE} nodes=3 stopped={leader.name} (led {sms_queue}) "
        f"new_leader={new_leader} sent_before_stop={sent_at_stop} "
        f"final={sum(statuses.values())} lost={SIZE - sum(statuses.values())} "
        f"duplicates_at_provider={stats['duplicates']} deliveries_sent_twice={sent_twice} "
        f"drain_after_stop={drained:.1f}s"
    )
    assert new_leader != leader.name
    assert statuses == {campaign_pb2.DELIVERY_STATUS_SENT: SIZE}
    assert len(per_delivery) == SIZE  # none lost
    # Duplicates are bounded by what was in flight on the lost node: at most the
    # unacknowledged batches (prefetch x workers) redelivered once each.
    assert sent_twice <= 4 * BATCH * WORKERS
    # The same processes, reconnected by themselves to a surviving node.
    assert all(rig.alive(name) and rig.pid(name) == pid for name, pid in pids.items())
