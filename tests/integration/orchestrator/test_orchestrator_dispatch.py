"""Dispatcher and receipt collector on real RabbitMQ, store on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kombu import Connection

from brandcast.orchestrator.intake import CampaignIntake
from brandcast.orchestrator.rendering import CampaignRenderer
from brandcast.orchestrator.server import Orchestrator, bootstrap
from brandcast.orchestrator.settings import OrchestratorSettings
from brandcast.orchestrator.store import Store
from brandcast.shared import email_layouts, tokens, topology
from brandcast.shared.bus import BusPublisher
from brandcast.v1 import bus_pb2, campaign_pb2, campaign_service_pb2

S = campaign_pb2
pytestmark = [pytest.mark.rabbitmq]


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def make_spec() -> S.CampaignSpec:
    return S.CampaignSpec(
        name="Spring launch",
        brand_kit=S.BrandKit(
            name="Acme Coffee",
            email_sender=S.EmailSender(name="Acme", address="news@acme.example.com"),
            sms_sender="+14155550100",
            postal_address="1 Market St, San Francisco, CA 94105",
            social_accounts=[
                S.SocialAccount(
                    id="acme-mastodon", network=S.SOCIAL_NETWORK_MASTODON, handle="@acme"
                ),
                S.SocialAccount(
                    id="acme-bsky", network=S.SOCIAL_NETWORK_BLUESKY, handle="acme.bsky"
                ),
            ],
        ),
        core_message=S.CoreMessage(
            headline="Spring blend is here",
            body="Bright, floral, ours.",
            cta_text="Order now",
            cta_url="https://acme.example.com/spring",
        ),
        channels=S.ChannelSettings(
            email=S.EmailSettings(enabled=True),
            sms=S.SmsSettings(enabled=True, ignore_quiet_hours=True),
            social=S.SocialSettings(enabled=True),
        ),
        audience=[
            S.Recipient(id=f"r{i}", email=f"r{i}@example.com", phone=f"+1415555{120 + i:04d}")
            for i in range(5)
        ],
    )


@pytest.fixture
def app(broker_url: str, database_url: str) -> Iterator[Orchestrator]:
    yield from _running(broker_url, database_url)


@pytest.fixture
def laid_out_app(broker_url: str, database_url: str) -> Iterator[Orchestrator]:
    yield from _running(broker_url, database_url, bus_shared_email_layouts=True)


def _running(broker_url: str, database_url: str, **extra: Any) -> Iterator[Orchestrator]:
    settings = OrchestratorSettings(
        broker_url=broker_url,
        database_url=database_url,
        dispatch_batch_size=3,
        dispatch_poll_interval=0.1,
        # Receipts here stop at SENT: SMS wait this long for reports that never
        # come, then the report-window closer completes their campaign.
        report_window_sms=0.5,
        **extra,
    )
    with BusPublisher(broker_url) as publisher:
        publisher.declare_topology()
    app = bootstrap(settings, store=Store.open(database_url))
    app.start()
    assert app.collector is not None
    assert app.collector.ready.wait(10)
    try:
        yield app
    finally:
        app.stop()


def take_batches(broker_url: str, channel: str, items: int) -> list[bus_pb2.DispatchBatch]:
    """Consume a channel queue like an adapter would, until ``items`` deliveries arrived."""
    batches: list[bus_pb2.DispatchBatch] = []
    with Connection(broker_url) as connection:
        queue = topology.dispatch_queue(channel)(connection.default_channel)
        deadline = time.monotonic() + 15
        while sum(len(b.items) for b in batches) < items:
            assert time.monotonic() < deadline, f"only {batches!r} arrived on {channel}"
            message = queue.get(no_ack=True)
            if message is None:
                time.sleep(0.05)
                continue
            assert message.headers["task"] == topology.task_name(channel)
            # Protobuf bytes, named: no base64, no JSON envelope.
            assert message.content_type == topology.PROTOBUF_CONTENT_TYPE
            assert message.properties["type"] == topology.DISPATCH_BATCH_TYPE
            batches.append(bus_pb2.DispatchBatch.FromString(message.body))
    return batches


def test_dispatch_and_collect_until_completed(app: Orchestrator, broker_url: str) -> None:
    app.store.add_suppression(S.CHANNEL_SMS, "+14155550124", "stop_reply")
    spec = make_spec()
    spec.priority = S.CAMPAIGN_PRIORITY_TRANSACTIONAL
    result = CampaignIntake(app.store).submit(
        campaign_service_pb2.SubmitCampaignRequest(spec=spec),
        trace_context={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )
    cid = result.campaign.id
    assert app.dispatcher is not None
    app.dispatcher.wake()

    email = take_batches(broker_url, "email", 5)
    sms = take_batches(broker_url, "sms", 4)
    social = take_batches(broker_url, "social", 2)
    assert len(email) == 2  # batches of at most DISPATCH_BATCH_SIZE=3
    first = email[0]
    assert first.campaign_id == cid
    assert first.trace_context["traceparent"].startswith("00-0af7")
    assert first.items[0].email.subject
    token = first.items[0].email.list_unsubscribe_url.rsplit("/", 1)[1]
    assert tokens.verify(token, app.settings.unsubscribe_secret)["d"] == first.items[0].delivery_id
    assert all(i.idempotency_key == i.delivery_id for b in email for i in b.items)
    assert {i.address for b in sms for i in b.items} == {f"+1415555{120 + i:04d}" for i in range(4)}
    # The kind of traffic reaches the adapters (the SMS pumping guard keys on it).
    assert {b.priority for b in sms} == {S.CAMPAIGN_PRIORITY_TRANSACTIONAL}
    assert {i.social.account_id for b in social for i in b.items} == {"acme-mastodon", "acme-bsky"}
    wait_for(lambda: app.store.counters(cid)[0].queued == 5)

    with BusPublisher(broker_url) as publisher:
        for name, batches in (("email", email), ("sms", sms), ("social", social)):
            receipts = bus_pb2.ReceiptBatch(
                receipts=[
                    bus_pb2.DeliveryReceipt(
                        delivery_id=item.delivery_id,
                        campaign_id=cid,
                        channel=batch.channel,
                        status=S.DELIVERY_STATUS_SENT,
                        provider="sandbox",
                        attempts=1,
                    )
                    for batch in batches
                    for item in batch.items
                ]
            )
            publisher.publish_receipts(receipts, name)
            publisher.publish_receipts(receipts, name)  # a duplicate changes nothing
        publisher.publish_suppression(
            bus_pb2.SuppressionEvent(
                channel=S.CHANNEL_EMAIL,
                address="R0@example.com",
                action=bus_pb2.SuppressionEvent.ACTION_SUPPRESS,
                reason="unsubscribe",
            )
        )

    def completed() -> bool:
        campaign = app.store.get_campaign(cid)
        return campaign is not None and campaign.state == S.CAMPAIGN_STATE_COMPLETED

    wait_for(completed)
    counters = {c.channel: c for c in app.store.counters(cid)}
    assert counters[S.CHANNEL_EMAIL].sent == 5
    assert (counters[S.CHANNEL_SMS].sent, counters[S.CHANNEL_SMS].suppressed) == (4, 1)
    assert counters[S.CHANNEL_SOCIAL].sent == 2
    sent = app.store.list_deliveries(cid, channel=S.CHANNEL_EMAIL)[0]
    assert all(d.provider == "sandbox" and d.attempts == 1 for d in sent)
    wait_for(lambda: bool(app.store.list_suppressions(channel=S.CHANNEL_EMAIL)[0]))
    assert app.store.list_suppressions(channel=S.CHANNEL_EMAIL)[0][0].address == "r0@example.com"


def test_shared_layouts_carry_each_layout_once_and_make_the_same_emails(
    laid_out_app: Orchestrator, broker_url: str
) -> None:
    spec = make_spec()
    spec.core_message.translations["fr"].headline = "Le printemps est là"
    spec.channels.email.templates.html = "<p>Hi {{ recipient.name }}</p>{{ message.body }}"
    for i, person in enumerate(spec.audience):
        person.name = f"Reader {i}"
        person.locale = "fr" if i % 2 else "en"
    cid = (
        CampaignIntake(laid_out_app.store)
        .submit(campaign_service_pb2.SubmitCampaignRequest(spec=spec))
        .campaign.id
    )
    assert laid_out_app.dispatcher is not None
    laid_out_app.dispatcher.wake()

    batches = take_batches(broker_url, "email", 5)
    renderer = CampaignRenderer(spec, campaign_id=cid)
    people = {person.id: person for person in spec.audience}
    for batch in batches:
        assert {item.WhichOneof("variant") for item in batch.items} == {"laid_out_email"}
        # One layout per locale the batch's e-mails use, not one per e-mail.
        locales = {people[item.recipient_id].locale for item in batch.items}
        assert len(batch.email_layouts) == len(locales)
        for item in batch.items:
            sent = item.laid_out_email
            whole = renderer.email(
                people[item.recipient_id], unsubscribe_url=sent.variant.list_unsubscribe_url
            ).variant
            assert email_layouts.bodies(batch, sent) == (whole.html, whole.text)
            assert f"Hi Reader {item.recipient_id[1:]}" in whole.html
            sent.variant.html, sent.variant.text = whole.html, whole.text
            assert sent.variant == whole
    # SMS and posts are sent whole as before.
    assert all(
        i.WhichOneof("variant") == "sms"
        for b in take_batches(broker_url, "sms", 5)
        for i in b.items
    )


def test_receipts_arriving_in_waves_are_all_applied(app: Orchestrator, broker_url: str) -> None:
    """Each flush of the collector must leave it consuming into the live buffer."""
    result = CampaignIntake(app.store).submit(
        campaign_service_pb2.SubmitCampaignRequest(spec=make_spec())
    )
    cid = result.campaign.id
    assert app.dispatcher is not None
    app.dispatcher.wake()
    waves = [
        ("email", take_batches(broker_url, "email", 5)),
        ("sms", take_batches(broker_url, "sms", 5)),
        ("social", take_batches(broker_url, "social", 2)),
    ]
    wait_for(lambda: sum(c.queued for c in app.store.counters(cid)) == 12)

    with BusPublisher(broker_url) as publisher:
        for applied, (name, batches) in enumerate(waves, start=1):
            publisher.publish_receipts(
                bus_pb2.ReceiptBatch(
                    receipts=[
                        bus_pb2.DeliveryReceipt(
                            delivery_id=item.delivery_id,
                            campaign_id=cid,
                            channel=batch.channel,
                            status=S.DELIVERY_STATUS_SENT,
                            provider="sandbox",
                            attempts=1,
                        )
                        for batch in batches
                        for item in batch.items
                    ]
                ),
                name,
            )

            def channels_sent(n: int = applied) -> bool:
                return sum(c.sent > 0 for c in app.store.counters(cid)) == n

            wait_for(channels_sent)
    campaign = app.store.get_campaign(cid)
    assert campaign is not None
    # Every delivery has left; the SMS wait out their report window.
    assert campaign.state == S.CAMPAIGN_STATE_DISPATCHED
    assert campaign.HasField("dispatched_at")
    assert campaign.HasField("report_window_ends_at")

    def completed() -> bool:
        found = app.store.get_campaign(cid)
        return found is not None and found.state == S.CAMPAIGN_STATE_COMPLETED

    wait_for(completed)


def test_an_opt_in_on_the_bus_lifts_an_unsubscribe_but_not_a_hard_bounce(
    app: Orchestrator, broker_url: str
) -> None:
    """A re-subscribe (the unsubscribe page's button, a START reply) undoes the
    person's own opt-out; a mailbox that hard-bounced stays suppressed."""

    def event(
        address: str, action: bus_pb2.SuppressionEvent.Action.ValueType, reason: str
    ) -> bus_pb2.SuppressionEvent:
        return bus_pb2.SuppressionEvent(
            channel=S.CHANNEL_EMAIL, address=address, action=action, reason=reason
        )

    suppress, unsuppress = (
        bus_pb2.SuppressionEvent.ACTION_SUPPRESS,
        bus_pb2.SuppressionEvent.ACTION_UNSUPPRESS,
    )
    with BusPublisher(broker_url) as publisher:
        publisher.publish_suppression(event("left@example.com", suppress, "unsubscribe"))
        publisher.publish_suppression(event("gone@example.com", suppress, "hard_bounce"))

    def suppressed() -> set[str]:
        return {s.address for s in app.store.list_suppressions()[0]}

    wait_for(lambda: suppressed() == {"left@example.com", "gone@example.com"})
    with BusPublisher(broker_url) as publisher:
        publisher.publish_suppression(event("left@example.com", unsuppress, "resubscribe"))
        publisher.publish_suppression(event("gone@example.com", unsuppress, "resubscribe"))
    wait_for(lambda: suppressed() == {"gone@example.com"})
    # Both opt-ins were read: the hard bounce's one is passed over, not pending.
    trail = app.store.list_suppression_audit(address="left@example.com")[0]
    assert [e.actor for e in trail] == ["recipient", "recipient"]
    time.sleep(0.5)
    assert suppressed() == {"gone@example.com"}
