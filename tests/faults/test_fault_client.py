"""The client library through faults (issue 21).

Scenario 18: the orchestrator is SIGKILLed and restarted while a ``Client.watch``
(and, in a second run, an ``AsyncClient.watch``) follows a campaign with delivery
events; the watch resumes from its cursor and what it saw equals the store: every
delivery once in its final state, cursors strictly increasing (no repeat), none
missing (no gap).

Scenario 19: a submit's answer is lost and its connection cut (the campaign was
stored, the client sees UNAVAILABLE); the client retries on its own with the
idempotency key it generated, and exactly one campaign exists.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from brandcast.client import AsyncClient, Client, NotFoundError, RetryPolicy
from brandcast.shared.devstack import wait_until
from brandcast.v1 import campaign_pb2, campaign_service_pb2
from tests.faults.rig import SmsRig, in_process_api, running_rig, sms_spec
from tests.faults.tcp_proxy import TcpProxy

S = campaign_pb2
WATCH_SIZE = 800


@pytest.fixture
def rig(broker_url: str, database_url: str, tmp_path: Path) -> Iterator[SmsRig]:
    # A rate limit long enough for the restart to land mid-campaign (~8 s of sending).
    yield from running_rig(
        tmp_path,
        broker_url,
        database_url,
        # Sent is final here (the rig's delivery reports go to a closed port), so the
        # watch ends once every SMS is sent rather than after the report window.
        extra_env={"SMS_RATE_LIMIT": "100", "DISPATCH_BATCH_SIZE": "50", "REPORT_WINDOW_SMS": "0"},
    )


@pytest.mark.slow
@pytest.mark.rabbitmq
@pytest.mark.parametrize("flavour", ["sync", "asyncio"])
def test_watch_survives_an_orchestrator_restart_without_gap_or_repeat(
    rig: SmsRig, flavour: str
) -> None:
    campaign_id = rig.submit(sms_spec(WATCH_SIZE, name="watched through a restart"))
    events: list[campaign_service_pb2.WatchCampaignResponse] = []
    resumed_from: list[str] = []
    failure: list[BaseException] = []

    async def follow_async() -> None:
        async with AsyncClient(rig.grpc_address) as client:
            async for event in client.watch(
                campaign_id, include_deliveries=True, on_resume=resumed_from.append
            ):
                events.append(event)

    def follow() -> None:
        try:
            if flavour == "asyncio":
                asyncio.run(follow_async())
                return
            with Client(rig.grpc_address) as client:
                for event in client.watch(
                    campaign_id, include_deliveries=True, on_resume=resumed_from.append
                ):
                    events.append(event)
        except BaseException as exc:  # surfaced by the assertion below
            failure.append(exc)

    watcher = threading.Thread(target=follow, name="watcher")
    watcher.start()
    wait_until(
        lambda: sum(e.delivery.status == S.DELIVERY_STATUS_SENT for e in events) >= 100,
        120,
        "the watch to see deliveries sent",
    )
    seen_before_kill = len(events)
    rig.stack.signal("orchestrator", signal.SIGKILL)
    wait_until(lambda: not rig.alive("orchestrator"), 10, "the orchestrator to die")
    rig.start("orchestrator")
    watcher.join(timeout=150)
    assert not watcher.is_alive(), "the watch did not end"
    assert not failure, failure

    deliveries = [e for e in events if e.WhichOneof("event") == "delivery"]
    positions = [(int(e.cursor.split(".")[0]), e.cursor.split(".", 1)[1]) for e in deliveries]
    repeats = sum(b <= a for a, b in itertools.pairwise(positions))
    last_seen = {e.delivery.id: e.delivery.status for e in deliveries}
    in_store = {delivery_id: status for delivery_id, _, status, _, _ in rig.deliveries(campaign_id)}
    missing = {d for d in in_store if last_seen.get(d) != in_store[d]}
    final = events[-1]
    print(
        f"\nscenario=18 client={flavour} size={WATCH_SIZE} events_before_kill={seen_before_kill} "
        f"resumes={len(resumed_from)} delivery_events={len(deliveries)} repeats={repeats} "
        f"deliveries_not_matching_store={len(missing)}"
    )
    assert resumed_from, "the watch never had to resume: the kill came too late"
    assert repeats == 0
    assert not missing
    assert len(in_store) == WATCH_SIZE
    assert set(in_store.values()) == {S.DELIVERY_STATUS_SENT}
    assert final.WhichOneof("event") == "progress"
    assert final.progress.counters[0].sent == WATCH_SIZE


def test_a_submit_retried_after_unavailable_creates_one_campaign(database_url: str) -> None:
    with in_process_api(database_url) as api:
        port = int(api.address.rsplit(":", 1)[1])
        proxy = TcpProxy(port)
        try:
            with Client(f"127.0.0.1:{proxy.port}", retry=RetryPolicy(attempts=5)) as client:
                # Connect first: the answer to the submit, not the handshake, is what gets lost.
                with pytest.raises(NotFoundError):
                    client.get_campaign("warm-up")
                proxy.swallow_replies = True

                def cut_once_stored() -> None:
                    wait_until(lambda: api.campaign_count() == 1, 60, "the campaign stored")
                    proxy.swallow_replies = False
                    proxy.cut()

                cutter = threading.Thread(target=cut_once_stored)
                cutter.start()
                started = time.monotonic()
                result = client.submit_campaign(sms_spec(2000, name="answer lost"))
                cutter.join(timeout=60)
                cuts, connections = proxy.cuts, proxy.accepted
        finally:
            proxy.close()
        campaigns = api.campaign_count()
    print(
        f"\nscenario=19 audience=2000 connections={connections} cuts={cuts} "
        f"campaigns={campaigns} duplicate_answer={result.duplicate} "
        f"seconds={time.monotonic() - started:.1f}"
    )
    assert cuts == 1
    assert connections >= 2  # the retry came over a new connection
    assert campaigns == 1
    assert result.duplicate  # the retry was answered with the campaign the first attempt made
    assert result.campaign.audience_size == 2000
