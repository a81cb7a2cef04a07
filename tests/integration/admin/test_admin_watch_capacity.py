"""Many admin tabs following campaigns keep the admin and the orchestrator
responsive (issue #19 item 2, the admin's server-sent events path).

33 tabs open on scheduled campaigns used to hold every gRPC worker thread of
the orchestrator through their WatchCampaign streams, so every page, and the
orchestrator's health check, timed out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from brandcast.v1 import campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc
from tests.integration.admin.conftest import API_TOKEN
from tests.own_thread import run_async

S = campaign_pb2
API = campaign_service_pb2
TABS = 60


def scheduled_campaign(port: int) -> str:
    spec = S.CampaignSpec(
        name="Later",
        brand_kit=S.BrandKit(
            name="Acme",
            email_sender=S.EmailSender(name="Acme", address="news@acme.example.com"),
            postal_address="1 Market St, San Francisco, CA 94105",
        ),
        core_message=S.CoreMessage(headline="Soon", body="Later."),
        channels=S.ChannelSettings(email=S.EmailSettings(enabled=True)),
        audience=[S.Recipient(id="r1", email="r1@example.com")],
    )
    spec.schedule.send_at.GetCurrentTime()
    spec.schedule.send_at.seconds += 3600
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
        response = stub.SubmitCampaign(
            API.SubmitCampaignRequest(spec=spec),
            metadata=(("authorization", f"Bearer {API_TOKEN}"),),
            timeout=10,
        )
    return response.campaign.id


async def first_progress(client: httpx.AsyncClient, url: str, opened: asyncio.Event) -> None:
    async with client.stream("GET", url) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("event: progress"):
                opened.set()
                await asyncio.Event().wait()  # hold the tab open until cancelled


def test_60_open_tabs_leave_pages_and_health_responsive(
    orchestrator_port: int, serve_admin: Callable[..., Any]
) -> None:
    campaigns = [scheduled_campaign(orchestrator_port) for _ in range(2)]
    with serve_admin() as admin:
        cookies = dict(admin.cookies)
        base_url = str(admin.base_url)

        async def scenario() -> list[float]:
            async with httpx.AsyncClient(base_url=base_url, cookies=cookies, timeout=30) as tabs:
                events = [asyncio.Event() for _ in range(TABS)]
                followers = [
                    asyncio.create_task(
                        first_progress(tabs, f"/api/campaigns/{campaigns[i % 2]}/events", event)
                    )
                    for i, event in enumerate(events)
                ]
                try:
                    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 60)
                    latencies = []
                    async with httpx.AsyncClient(
                        base_url=base_url, cookies=cookies, timeout=10
                    ) as visitor:
                        for _ in range(5):
                            started = time.perf_counter()
                            page = await visitor.get("/")
                            assert page.status_code == 200
                            assert (await visitor.get("/healthz")).status_code == 200
                            latencies.append(time.perf_counter() - started)
                    return latencies
                finally:
                    for follower in followers:
                        follower.cancel()
                    await asyncio.gather(*followers, return_exceptions=True)

        latencies = run_async(scenario())
    assert max(latencies) < 3.0, latencies
    with grpc.insecure_channel(f"127.0.0.1:{orchestrator_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
