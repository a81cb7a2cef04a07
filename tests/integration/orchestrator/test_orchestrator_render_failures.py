"""A delivery that fails to render ends FAILED and stays out of its batch; the
deliveries around it go out whole (the dispatcher fills each item in place)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from brandcast.orchestrator.dispatcher import Dispatcher
from brandcast.orchestrator.intake import CampaignIntake
from brandcast.orchestrator.store import Store
from brandcast.shared.bus import BusPublisher
from brandcast.v1 import bus_pb2, campaign_pb2, campaign_service_pb2

S = campaign_pb2

pytestmark = [pytest.mark.rabbitmq]


class RecordingPublisher(BusPublisher):
    """The real publisher (real broker), keeping a copy of each batch it sent."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.sent: list[bus_pb2.DispatchBatch] = []

    def publish_dispatch(self, batch: bus_pb2.DispatchBatch) -> None:
        super().publish_dispatch(batch)
        copy = bus_pb2.DispatchBatch()
        copy.CopyFrom(batch)
        self.sent.append(copy)


@pytest.fixture
def publisher(broker_url: str) -> Iterator[RecordingPublisher]:
    publisher = RecordingPublisher(broker_url)
    with publisher:
        publisher.declare_topology()
        yield publisher


def test_an_unrenderable_delivery_fails_and_the_batch_carries_the_rest(
    store: Store, publisher: RecordingPublisher
) -> None:
    spec = S.CampaignSpec(
        name="codes",
        brand_kit=S.BrandKit(name="Acme", sms_sender="+14155550100"),
        core_message=S.CoreMessage(headline="Your code", body="Ours."),
        channels=S.ChannelSettings(
            sms=S.SmsSettings(
                enabled=True,
                ignore_quiet_hours=True,
                template="Your code {{ recipient.attributes.code }}",
            )
        ),
        # The intake renders the first recipients as a sample (and refuses a
        # campaign one of them breaks): the unrenderable one comes later.
        audience=[
            *(
                S.Recipient(id=f"r{i}", phone=f"+1415555000{i}", attributes={"code": f"C{i}"})
                for i in range(1, 5)
            ),
            # No code: this recipient's text cannot be rendered.
            S.Recipient(id="r5", phone="+14155550005"),
            S.Recipient(id="r6", phone="+14155550006", attributes={"code": "C6"}),
        ],
    )
    request = campaign_service_pb2.SubmitCampaignRequest(spec=spec)
    campaign_id = CampaignIntake(store).submit(request).campaign.id

    Dispatcher(store, lambda: publisher, batch_size=10).dispatch_once(S.CHANNEL_SMS)

    [batch] = publisher.sent
    assert [(i.recipient_id, i.address, i.sms.text[:12]) for i in batch.items] == [
        (f"r{i}", f"+1415555000{i}", f"Your code C{i}") for i in (1, 2, 3, 4, 6)
    ]
    assert all(i.delivery_id and i.idempotency_key == i.delivery_id for i in batch.items)
    deliveries, _ = store.list_deliveries(campaign_id)
    by_recipient = {d.recipient_id: d for d in deliveries}
    assert {r: d.status for r, d in by_recipient.items() if r != "r5"} == {
        f"r{i}": S.DELIVERY_STATUS_QUEUED for i in (1, 2, 3, 4, 6)
    }
    failed = by_recipient["r5"]
    assert failed.status == S.DELIVERY_STATUS_FAILED
    assert failed.error_code == "render_error"
    assert "code" in failed.error_message
