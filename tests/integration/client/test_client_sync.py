"""brandcast.client.Client against a real orchestrator gRPC server (SQLite, no dispatcher)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest

from brandcast.client import (
    AuthenticationError,
    Client,
    DeadlineExceededError,
    FailedPreconditionError,
    IdempotencyConflictError,
    InvalidArgumentError,
    NotFoundError,
)
from brandcast.v1 import campaign_pb2 as pb
from brandcast.v1 import campaign_service_pb2 as api
from tests.integration.client.harness import Served


def sms_spec(recipients: int = 0, name: str = "Client test") -> pb.CampaignSpec:
    return pb.CampaignSpec(
        name=name,
        brand_kit=pb.BrandKit(name="Acme Coffee", sms_sender="+14155550100", default_locale="en"),
        core_message=pb.CoreMessage(headline="Spring blend", body="Roasted this week."),
        channels=pb.ChannelSettings(sms=pb.SmsSettings(enabled=True, ignore_quiet_hours=True)),
        audience=[person(i) for i in range(recipients)],
    )


def person(i: int) -> pb.Recipient:
    return pb.Recipient(id=f"r{i:06d}", phone=f"+1415555{i % 10_000:04d}", locale="en")


@pytest.fixture
def client(served: Served) -> Iterator[Client]:
    with Client(served.address, token=served.token) as opened:
        yield opened


def test_submit_makes_an_idempotency_key_and_a_repeat_is_the_same_campaign(
    client: Client,
) -> None:
    first = client.submit_campaign(sms_spec(3))
    assert first.idempotency_key
    assert not first.duplicate
    assert first.campaign.audience_size == 3
    again = client.submit_campaign(sms_spec(3), idempotency_key=first.idempotency_key)
    assert again.duplicate
    assert again.campaign.id == first.campaign.id
    other = client.submit_campaign(sms_spec(3))
    assert other.idempotency_key != first.idempotency_key
    assert other.campaign.id != first.campaign.id
    with pytest.raises(IdempotencyConflictError):
        client.submit_campaign(sms_spec(2), idempotency_key=first.idempotency_key)


def test_streamed_submit_from_a_generator_reports_progress(client: Client) -> None:
    seen: list[int] = []
    result = client.submit_campaign(
        sms_spec(1),
        audience=(person(i) for i in range(1, 2501)),
        chunk_size=1000,
        on_progress=seen.append,
    )
    assert seen == [1001, 2001, 2501]
    assert result.recipients_received == 2501
    assert result.campaign.audience_size == 2501
    deliveries = list(client.list_deliveries(result.campaign.id, page_size=400))
    assert len(deliveries) == 2501
    assert len({d.id for d in deliveries}) == 2501


def test_paging_follows_tokens(client: Client) -> None:
    ids = [client.submit_campaign(sms_spec(2, name=f"c{i}")).campaign.id for i in range(3)]
    listed = [c.id for c in client.list_campaigns(page_size=1)]
    assert listed == ids[::-1]  # newest first, one page each
    sms = list(client.list_deliveries(ids[0], channel=pb.CHANNEL_SMS, page_size=1))
    assert len(sms) == 2
    assert not list(client.list_deliveries(ids[0], channel=pb.CHANNEL_EMAIL))


def test_watch_follows_to_the_end_and_resumes_from_any_cursor(client: Client) -> None:
    campaign = client.submit_campaign(sms_spec(5)).campaign
    assert client.cancel_campaign(campaign.id).cancelled == 5
    events = list(client.watch(campaign.id, include_deliveries=True))
    deliveries = [e for e in events if e.WhichOneof("event") == "delivery"]
    last_status = {e.delivery.recipient_id: e.delivery.status for e in deliveries}
    assert last_status == {f"r{i:06d}": pb.DELIVERY_STATUS_CANCELLED for i in range(5)}
    assert events[-1].progress.counters[0].cancelled == 5
    # Resuming after any delivery event yields exactly the ones after it.
    for index, event in enumerate(deliveries):
        resumed = client.watch(campaign.id, include_deliveries=True, resume_cursor=event.cursor)
        rest = [e.cursor for e in resumed if e.WhichOneof("event") == "delivery"]
        assert rest == [e.cursor for e in deliveries[index + 1 :]]


def test_errors_are_typed_and_carry_field_violations(client: Client, served: Served) -> None:
    bad = sms_spec(1)
    bad.audience[0].phone = "not a number"
    with pytest.raises(InvalidArgumentError) as invalid:
        client.submit_campaign(bad)
    assert any(v.field.startswith("spec.audience[0]") for v in invalid.value.violations), (
        invalid.value.violations
    )
    with pytest.raises(NotFoundError):
        client.get_campaign("no-such-campaign")
    with Client(served.address, token="wrong") as stranger, pytest.raises(AuthenticationError):
        stranger.get_campaign("x")


def test_the_default_deadline_can_be_overridden(client: Client) -> None:
    with pytest.raises(DeadlineExceededError):
        client.submit_campaign(
            sms_spec(1), audience=[person(i) for i in range(1, 5000)], timeout=0.001
        )


def test_suppressions(client: Client) -> None:
    added = client.add_suppression(pb.CHANNEL_SMS, "+14155550111", reason="STOP")
    assert added.address == "+14155550111"
    assert [s.address for s in client.list_suppressions(channel=pb.CHANNEL_SMS)] == ["+14155550111"]
    assert client.remove_suppression(pb.CHANNEL_SMS, "+14155550111", reason="asked by phone")
    assert not client.remove_suppression(pb.CHANNEL_SMS, "+14155550111", reason="again")
    assert not list(client.list_suppressions())


def test_export_get_delivery_and_duplicate(client: Client) -> None:
    original = client.submit_campaign(sms_spec(3)).campaign
    text = b"".join(client.export_deliveries(original.id)).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["recipient_id"] for r in sorted(rows, key=lambda r: r["recipient_id"])] == [
        "r000000",
        "r000001",
        "r000002",
    ]
    delivery = client.get_delivery(original.id, rows[0]["delivery_id"])
    assert delivery.recipient_id == rows[0]["recipient_id"]
    lines = b"".join(
        client.export_deliveries(original.id, export_format=api.EXPORT_FORMAT_JSON_LINES)
    ).splitlines()
    assert len(lines) == 3
    copy = client.duplicate_campaign(original.id, idempotency_key="copy-1")
    again = client.duplicate_campaign(original.id, idempotency_key="copy-1")
    assert copy.id == again.id != original.id
    assert copy.spec.name == "Client test (copy)"
    assert copy.audience_size == 3


def test_skipped_addresses_are_reported(client: Client) -> None:
    spec = sms_spec(2)
    spec.channels.email.enabled = True
    spec.brand_kit.email_sender.address = "news@acme.example.com"
    spec.brand_kit.postal_address = "1 Market St, San Francisco, CA 94105"
    spec.audience[0].email = "r0@example.com"
    spec.audience[1].email = "r1@example.com"
    spec.audience[1].phone = "12345"
    result = client.submit_campaign(spec, skip_invalid_addresses=True)
    assert [(s.recipient_id, s.channel) for s in result.skipped] == [("r000001", pb.CHANNEL_SMS)]
    assert result.skipped[0].field.endswith("audience[1].phone")


def test_an_audience_that_fails_half_way_raises_its_own_error_and_stores_nothing(
    client: Client,
) -> None:
    def audience() -> Iterator[pb.Recipient | dict[str, str]]:
        for i in range(1, 3000):
            yield person(i) if i != 1500 else {"id": "x", "mail": "oops"}

    with pytest.raises(ValueError, match=r"audience\[1499\]: no Recipient field 'mail'"):
        client.submit_campaign(sms_spec(1), audience=audience())
    assert not list(client.list_campaigns())  # no declared end, nothing stored


def test_pause_and_resume(client: Client) -> None:
    campaign = client.submit_campaign(sms_spec(2)).campaign
    assert client.pause_campaign(campaign.id).state == pb.CAMPAIGN_STATE_PAUSED
    assert client.get_campaign(campaign.id).state == pb.CAMPAIGN_STATE_PAUSED
    assert client.resume_campaign(campaign.id).state == pb.CAMPAIGN_STATE_DISPATCHING
    client.cancel_campaign(campaign.id)
    with pytest.raises(FailedPreconditionError):
        client.pause_campaign(campaign.id)
