"""Open watches cannot take the server down (issue #19 item 2).

32 open WatchCampaign streams used to occupy every worker thread, so health
checks and every other call timed out. Watches now park apart from the threads
kept for other calls, sleep until the shared change feed or an in-process
commit wakes their campaign, and are capped in total, per client and per
campaign with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from brandcast.orchestrator.server import Orchestrator, bootstrap, create_server
from brandcast.orchestrator.settings import OrchestratorSettings
from brandcast.v1 import campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc

S = campaign_pb2
API = campaign_service_pb2
TOKEN = "watch-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)
OTHER_AUTH = (("authorization", "Bearer other-token"),)


def scheduled_spec(name: str) -> S.CampaignSpec:
    spec = S.CampaignSpec(
        name=name,
        brand_kit=S.BrandKit(
            name="Acme",
            email_sender=S.EmailSender(name="Acme", address="news@acme.example.com"),
            postal_address="1 Market St, San Francisco, CA 94105",
        ),
        core_message=S.CoreMessage(
            headline="Soon", body="Later.", cta_text="Go", cta_url="https://acme.example.com/"
        ),
        channels=S.ChannelSettings(email=S.EmailSettings(enabled=True)),
        audience=[S.Recipient(id="r1", email="r1@example.com")],
    )
    # Scheduled an hour ahead: its watches stay open for the whole test.
    spec.schedule.send_at.GetCurrentTime()
    spec.schedule.send_at.seconds += 3600
    return spec


@dataclass
class Served:
    app: Orchestrator
    channel: grpc.Channel
    campaigns: campaign_service_pb2_grpc.CampaignServiceStub
    health: health_pb2_grpc.HealthStub


def serve(tmp_path: Path, **limits: int) -> Iterator[Served]:
    settings = OrchestratorSettings(
        database_url=f"sqlite:///{tmp_path / 'orchestrator.db'}",
        grpc_address="127.0.0.1:0",
        api_tokens=f"{TOKEN}, other-token",
        watch_feed_interval=0.2,
        **limits,  # type: ignore[arg-type]
    )
    app = bootstrap(settings, dispatch=False, collect=False)
    server, port = create_server(settings, app)
    server.start()
    app.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Served(
            app,
            channel,
            campaign_service_pb2_grpc.CampaignServiceStub(channel),
            health_pb2_grpc.HealthStub(channel),
        )
    finally:
        channel.close()
        app.events.close()
        server.stop(2).wait()
        app.stop(2)


@pytest.fixture
def thousand(tmp_path: Path) -> Iterator[Served]:
    yield from serve(
        tmp_path, max_watches=1000, max_watches_per_client=1000, max_watches_per_campaign=100
    )


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Served]:
    yield from serve(tmp_path, max_watches=5, max_watches_per_client=3, max_watches_per_campaign=2)


def submit(served: Served, name: str) -> str:
    request = API.SubmitCampaignRequest(spec=scheduled_spec(name))
    return served.campaigns.SubmitCampaign(request, metadata=AUTH, timeout=10).campaign.id


def open_watch(
    served: Served, campaign_id: str, metadata: tuple[tuple[str, str], ...] = AUTH
) -> Iterator[API.WatchCampaignResponse]:
    call = served.campaigns.WatchCampaign(
        API.WatchCampaignRequest(campaign_id=campaign_id), metadata=metadata, timeout=300
    )
    first = next(call)  # the first progress event: the watch is open on the server
    assert first.HasField("progress")
    return call


def wait_until(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.mark.slow
def test_health_and_unary_calls_stay_responsive_with_1000_open_watches(
    thousand: Served,
) -> None:
    campaign_ids = [submit(thousand, f"c{i}") for i in range(10)]
    watches = [
        thousand.campaigns.WatchCampaign(
            API.WatchCampaignRequest(campaign_id=campaign_ids[i % 10]), metadata=AUTH, timeout=300
        )
        for i in range(1000)
    ]
    # Every watch answered its first event: all 1,000 are open on the server.
    # (With one worker thread per watch, the 33rd never got that far.)
    for call in watches:
        assert next(call).HasField("progress")
    assert thousand.app.events.open_watches == 1000

    latencies = []
    for _ in range(20):
        started = time.perf_counter()
        health = thousand.health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        thousand.campaigns.GetCampaign(
            API.GetCampaignRequest(campaign_id=campaign_ids[0]), metadata=AUTH, timeout=5
        )
        thousand.campaigns.ListCampaigns(API.ListCampaignsRequest(), metadata=AUTH, timeout=5)
        latencies.append(time.perf_counter() - started)
    # Three calls per round; on the 2-core CI machine they take a few ms each.
    assert max(latencies) < 2.0, latencies
    # A new campaign can still be submitted and its watchers are woken by its changes.
    late = submit(thousand, "late")
    assert late

    # The 1,001st watch is refused at once, with a reason.
    with pytest.raises(grpc.RpcError) as refused:
        open_watch(thousand, late)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "the server holds its maximum of 1000" in str(refused.value.details())

    # Cancelling a watch frees its place promptly (its sleep is woken, not waited out).
    for call in watches:
        call.cancel()
    wait_until(lambda: thousand.app.events.open_watches == 0)


def test_watch_caps_per_client_and_per_campaign(small: Served) -> None:
    first, second, third = (submit(small, name) for name in ("a", "b", "c"))
    held = [open_watch(small, first), open_watch(small, first)]
    with pytest.raises(grpc.RpcError) as per_campaign:
        open_watch(small, first)
    assert per_campaign.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "this campaign has its maximum of 2 watchers" in str(per_campaign.value.details())

    held.append(open_watch(small, second))
    with pytest.raises(grpc.RpcError) as per_client:
        open_watch(small, third)
    assert per_client.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "this client holds its maximum of 3" in str(per_client.value.details())

    # Another client (another token) still gets its watch.
    held.append(open_watch(small, third, OTHER_AUTH))
    # A cancelled watch frees its client's place.
    held[0].cancel()  # type: ignore[attr-defined]
    wait_until(lambda: small.app.events.open_watches == 3)
    held.append(open_watch(small, third))
    for call in held:
        call.cancel()  # type: ignore[attr-defined]
    wait_until(lambda: small.app.events.open_watches == 0)


def test_the_shared_feed_wakes_watchers_for_changes_made_elsewhere(small: Served) -> None:
    """A change committed by another replica (here: straight into the store,
    without an in-process notification) reaches an open watch via the feed."""
    campaign_id = submit(small, "elsewhere")
    call = small.campaigns.WatchCampaign(
        API.WatchCampaignRequest(campaign_id=campaign_id), metadata=AUTH, timeout=30
    )
    assert next(call).progress.state == S.CAMPAIGN_STATE_SCHEDULED
    started = time.monotonic()
    assert small.app.store.cancel_campaign(campaign_id) is not None
    # Cancelling settles every delivery: the watch reports it and ends, long
    # before its 15 s safety timeout.
    states = [event.progress.state for event in call if event.HasField("progress")]
    assert states[-1] == S.CAMPAIGN_STATE_CANCELLED
    assert time.monotonic() - started < 5.0
