"""Scenario 6: a poison message, one that always raises inside the adapter.

The worker's provider is a plug-in with a bug (``latin1_provider``: it encodes
bodies to Latin-1 before sending). The poison batch's text has a character
outside Latin-1, so the adapter raises a plain ``UnicodeEncodeError`` on every
delivery, no provider error, before anything reaches the provider. It must
reach the dead-letter queue after the bounded number of deliveries, with failed
receipts, while a normal campaign behind it (plain text) drains.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from brandcast.shared import topology
from brandcast.shared.bus import BusPublisher
from brandcast.shared.devstack import wait_until
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2
from tests.faults.rig import SmsRig, dead_letters, phone, queue_counts, running_rig, sms_spec

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

S = campaign_pb2
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def rig(broker_url: str, database_url: str, tmp_path: Path) -> Iterator[SmsRig]:
    # The worker imports the plug-in from the repository, as a deployment loads its own.
    extra_env = {
        "SMS_PROVIDERS": "tests.faults.latin1_provider:Latin1TwilioProvider",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    yield from running_rig(tmp_path, broker_url, database_url, extra_env=extra_env)


def poison_batch() -> bus_pb2.DispatchBatch:
    batch = bus_pb2.DispatchBatch(
        batch_id=uuid.uuid4().hex, campaign_id=str(uuid.uuid4()), channel=S.CHANNEL_SMS
    )
    for i in range(3):
        batch.items.append(
            bus_pb2.DispatchItem(
                delivery_id=str(uuid.uuid4()),
                idempotency_key=f"poison-{i}",
                address=phone(9000 + i),
                recipient_id=f"p{i}",
                sms=variant_pb2.SmsVariant(text="poison ☃", sender="+14155550100"),
            )
        )
    return batch


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_poison_message_is_dead_lettered_after_bounded_deliveries(
    rig: SmsRig, broker_url: str
) -> None:
    poison = poison_batch()
    with BusPublisher(broker_url) as publisher:
        publisher.declare_topology()
        publisher.publish_dispatch(poison)
    campaign_id = rig.submit(sms_spec(50))

    dead_queue = topology.dead_letter_queue_name("sms")
    wait_until(
        lambda: queue_counts(broker_url).get(dead_queue, (0, 0))[0] >= 1,
        60,
        "the poison batch in the dead-letter queue",
    )
    rig.wait_settled(campaign_id, 50, timeout=60)
    wait_until(
        lambda: queue_counts(broker_url).get("brandcast.sms") == (0, 0),
        30,
        "the dispatch queue to be empty",
    )
    log = (rig.stack.log_dir / "sms-worker.log").read_text(errors="replace")
    requeued = log.count(f"of batch {poison.batch_id} failed; requeueing")
    parked = log.count(f"batch {poison.batch_id} failed")
    dead = dead_letters(broker_url, "sms")
    sent_poison = [
        m for m in rig.emulator_requests() if str(m["to"]) in {i.address for i in poison.items}
    ]
    print(
        f"\nscenario=6 deliveries_of_poison={requeued + 1} limit={topology.DELIVERY_LIMIT} "
        f"dead_lettered={len(dead)} provider_calls={len(sent_poison)} "
        f"campaign_behind_it=50/50 final"
    )
    assert requeued == topology.DELIVERY_LIMIT - 1
    assert parked == topology.DELIVERY_LIMIT  # 4 requeues + the final "dead-lettering" line
    assert [batch.batch_id for batch in dead] == [poison.batch_id]
    assert sent_poison == []
