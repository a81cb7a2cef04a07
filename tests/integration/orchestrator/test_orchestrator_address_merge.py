"""One delivery per mailbox and number (issue #19 item 4), on SQLite and PostgreSQL.

The prober's 10,000 recipients with unique ids but 5,000 distinct addresses
(half upper-cased) were accepted as 10,000 emails. Addresses are normalised
(email case, phone numbers to E.164) and recipients sharing one on a channel
get a single delivery there, across the whole streamed audience; the answer
says how many were merged, and a submission can keep them all.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select

from brandcast.orchestrator.intake import SLICE, CampaignIntake
from brandcast.orchestrator.store import Store
from brandcast.orchestrator.store.schema import deliveries
from brandcast.v1 import campaign_pb2, campaign_service_pb2

S = campaign_pb2
API = campaign_service_pb2
DISTINCT = SLICE  # duplicates fall in another slice than their first
RECIPIENTS = 2 * DISTINCT


def spec() -> S.CampaignSpec:
    spec = S.CampaignSpec(
        name="Twice",
        brand_kit=S.BrandKit(
            name="Acme",
            email_sender=S.EmailSender(name="Acme", address="news@acme.example.com"),
            sms_sender="+14155550100",
            postal_address="1 Market St, San Francisco, CA 94105",
        ),
        core_message=S.CoreMessage(headline="Once", body="Only once each."),
        channels=S.ChannelSettings(
            email=S.EmailSettings(enabled=True),
            sms=S.SmsSettings(enabled=True, ignore_quiet_hours=True),
        ),
    )
    spec.schedule.send_at.GetCurrentTime()
    spec.schedule.send_at.seconds += 3600
    return spec


def recipient(i: int) -> S.Recipient:
    n = i % DISTINCT
    second = i >= DISTINCT
    email = f"Person{n}@Example.com" if second else f"person{n}@example.com"
    number = f"415555{n:04d}"
    phone = f"+1 ({number[:3]}) {number[3:6]}-{number[6:]}" if second else f"+1{number}"
    return S.Recipient(id=f"r{i:05d}", email=email, phone=phone)


def chunks() -> Iterator[API.RecipientChunk]:
    for start in range(0, RECIPIENTS, 500):
        yield API.RecipientChunk(recipients=[recipient(i) for i in range(start, start + 500)])


def per_channel(store: Store, campaign_id: str) -> dict[int, tuple[int, int]]:
    """Per channel: deliveries and distinct addresses."""
    query = (
        select(deliveries.c.channel, func.count(), func.count(deliveries.c.address.distinct()))
        .where(deliveries.c.campaign_id == campaign_id)
        .group_by(deliveries.c.channel)
    )
    with store.engine.connect() as conn:
        return {int(r[0]): (int(r[1]), int(r[2])) for r in conn.execute(query)}


def test_recipients_sharing_an_address_get_one_delivery_per_channel(store: Store) -> None:
    result = CampaignIntake(store).submit(API.SubmitCampaignRequest(spec=spec()), chunks())
    assert result.recipients_received == RECIPIENTS
    assert result.merged_duplicates == 2 * DISTINCT
    assert per_channel(store, result.campaign.id) == {
        S.CHANNEL_EMAIL: (DISTINCT, DISTINCT),
        S.CHANNEL_SMS: (DISTINCT, DISTINCT),
    }
    counters = {c.channel: (c.total, c.scheduled) for c in result.campaign.counters}
    assert counters == {S.CHANNEL_EMAIL: (DISTINCT, DISTINCT), S.CHANNEL_SMS: (DISTINCT, DISTINCT)}
    # The recipient of the smallest id keeps each address; the whole audience is stored.
    with store.engine.connect() as conn:
        kept = set(
            conn.execute(
                select(deliveries.c.recipient_id).where(
                    deliveries.c.campaign_id == result.campaign.id
                )
            ).scalars()
        )
    assert kept == {f"r{i:05d}" for i in range(DISTINCT)}
    stored = store.get_campaign(result.campaign.id)
    assert stored is not None
    assert stored.audience_size == RECIPIENTS
    assert {c.channel: c.total for c in stored.counters} == {
        S.CHANNEL_EMAIL: DISTINCT,
        S.CHANNEL_SMS: DISTINCT,
    }


def test_a_submission_can_keep_every_duplicate(store: Store) -> None:
    request = API.SubmitCampaignRequest(spec=spec(), keep_duplicate_addresses=True)
    result = CampaignIntake(store).submit(request, chunks())
    assert result.merged_duplicates == 0
    assert per_channel(store, result.campaign.id) == {
        S.CHANNEL_EMAIL: (RECIPIENTS, DISTINCT),
        S.CHANNEL_SMS: (RECIPIENTS, DISTINCT),
    }
