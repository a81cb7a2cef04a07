"""brandcast.client.AsyncClient (grpc.aio) against a real orchestrator gRPC server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from brandcast.client import AsyncClient, InvalidArgumentError, NotFoundError
from brandcast.v1 import campaign_pb2 as pb
from tests.integration.client.harness import Served
from tests.integration.client.test_client_sync import person, sms_spec
from tests.own_thread import run_async


async def people(first: int, count: int) -> AsyncIterator[pb.Recipient]:
    for i in range(first, first + count):
        if i % 500 == 0:
            await asyncio.sleep(0)  # as a real async source would
        yield person(i)


async def scenario(served: Served) -> None:
    async with AsyncClient(served.address, token=served.token) as client:
        seen: list[int] = []
        result = await client.submit_campaign(
            sms_spec(1), audience=people(1, 1500), chunk_size=500, on_progress=seen.append
        )
        assert seen == [501, 1001, 1501]
        assert result.campaign.audience_size == 1501
        again = await client.submit_campaign(
            sms_spec(1), audience=[person(i) for i in range(1, 1501)],
            idempotency_key=result.idempotency_key,
        )  # fmt: skip
        assert again.duplicate
        assert again.campaign.id == result.campaign.id

        listed = [c.id async for c in client.list_campaigns(page_size=1)]
        assert listed == [result.campaign.id]
        deliveries = [d async for d in client.list_deliveries(result.campaign.id, page_size=400)]
        assert len(deliveries) == 1501
        exported = b"".join([chunk async for chunk in client.export_deliveries(result.campaign.id)])
        assert exported.count(b"\n") == 1502  # header and one line per delivery

        assert (await client.cancel_campaign(result.campaign.id)).cancelled == 1501
        events = [e async for e in client.watch(result.campaign.id, include_deliveries=True)]
        cancelled = {
            e.delivery.id
            for e in events
            if e.WhichOneof("event") == "delivery"
            and e.delivery.status == pb.DELIVERY_STATUS_CANCELLED
        }
        assert len(cancelled) == 1501
        assert events[-1].WhichOneof("event") == "progress"

        async def broken() -> AsyncIterator[pb.Recipient | dict[str, str]]:
            yield person(5000)
            yield {"id": "x", "mail": "oops"}

        with pytest.raises(ValueError, match=r"audience\[1\]: no Recipient field 'mail'"):
            await client.submit_campaign(sms_spec(1), audience=broken())
        assert [c.id async for c in client.list_campaigns()] == [result.campaign.id]

        with pytest.raises(NotFoundError):
            await client.get_campaign("no-such-campaign")
        bad = sms_spec(1)
        bad.audience[0].phone = "12345"
        with pytest.raises(InvalidArgumentError) as invalid:
            await client.submit_campaign(bad)
        assert [v.field for v in invalid.value.violations] == ["spec.audience[0].phone"]


def test_async_client_covers_submit_paging_export_watch_and_errors(served: Served) -> None:
    run_async(scenario(served))
