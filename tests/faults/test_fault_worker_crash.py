"""Scenario 1: SIGKILL an SMS worker in the middle of a large campaign."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from brandcast.shared.devstack import wait_until
from tests.faults.rig import SmsRig, running_rig, sms_spec

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

SIZE = int(os.environ.get("FAULTS_SIZE", "2000"))
BATCH = 100


@pytest.fixture
def rig(broker_url: str, database_url: str, tmp_path: Path) -> Iterator[SmsRig]:
    yield from running_rig(
        tmp_path,
        broker_url,
        database_url,
        workers=2,
        extra_env={"DISPATCH_BATCH_SIZE": str(BATCH)},
    )


def unacked(broker_url: str, queue: str) -> int:
    vhost = broker_url.rsplit("/", 1)[1]
    out = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "messages_unacknowledged"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == queue:
            return int(parts[1])
    return 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sigkill_sms_worker_mid_campaign_loses_nothing(rig: SmsRig, broker_url: str) -> None:
    started = time.monotonic()
    campaign_id = rig.submit(sms_spec(SIZE))
    wait_until(
        lambda: rig.emulator_stats()["messages"] >= SIZE // 3, 120, "a third of the campaign sent"
    )
    in_flight = unacked(broker_url, "brandcast.sms") * BATCH
    sent_before = rig.emulator_stats()["messages"]
    rig.stack.signal("sms-worker", signal.SIGKILL)
    wait_until(lambda: not rig.alive("sms-worker"), 10, "the worker to die")
    rig.start("sms-worker")

    rig.wait_settled(campaign_id, SIZE, timeout=240)
    elapsed = time.monotonic() - started
    deliveries = rig.deliveries(campaign_id)
    messages = rig.emulator_messages()
    stats = rig.emulator_stats()
    per_number: dict[str, int] = {}
    for message in messages:
        per_number[message["to"]] = per_number.get(message["to"], 0) + 1
    delivery_ids = {delivery_id for delivery_id, _, _, _, _ in deliveries}
    # The emulator names a message's delivery by its per-delivery status callback URL.
    sent_ids = {parse_qs(urlsplit(m["delivery_ref"]).query)["d"][0] for m in messages}
    final = len(deliveries)
    lost = SIZE - final
    print(
        f"\nscenario=1 size={SIZE} batch={BATCH} killed_after={sent_before} "
        f"final={final} lost={lost} duplicates_at_provider={stats['duplicates']} "
        f"in_flight_at_kill<={in_flight} seconds={elapsed:.1f}"
    )
    assert lost == 0
    assert len(per_number) == SIZE, "every number got a message"
    # A duplicate send is one the emulator saw again for the same delivery: no number
    # got a message of another delivery.
    assert max(per_number.values()) == 1
    assert sent_ids == delivery_ids
    # Only the killed worker's unacknowledged message is delivered again: with
    # --concurrency 1 and a prefetch of one message, at most one batch. (The
    # queue's unacked count sampled before the kill is printed, not asserted: a
    # worker between two messages shows 0 there and takes the next one at once.)
    assert stats["duplicates"] <= BATCH
