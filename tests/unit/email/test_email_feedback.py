"""Postmark webhook records and unsubscribe tokens → receipts and suppression events."""

from __future__ import annotations

import pytest

from brandcast.email.feedback import (
    InvalidEventError,
    UnsubscribeRefusedError,
    feedback_from_postmark,
    unsubscribe_event,
)
from brandcast.shared.tokens import sign
from brandcast.v1 import bus_pb2, campaign_pb2

METADATA = {"delivery_id": "d-9", "campaign_id": "c-9", "idempotency_key": "k-9"}


def test_delivery_becomes_a_delivered_receipt() -> None:
    feedback = feedback_from_postmark(
        {
            "RecordType": "Delivery",
            "MessageID": "pm-1",
            "Recipient": "reader@example.org",
            "DeliveredAt": "2026-11-23T10:00:00.1234567Z",
            "Metadata": METADATA,
        }
    )
    assert feedback.suppressions == []
    [receipt] = feedback.receipts
    assert receipt.status == campaign_pb2.DELIVERY_STATUS_DELIVERED
    assert (receipt.delivery_id, receipt.campaign_id, receipt.idempotency_key) == (
        "d-9",
        "c-9",
        "k-9",
    )
    assert (receipt.provider, receipt.provider_message_id) == ("postmark", "pm-1")
    assert receipt.channel == campaign_pb2.CHANNEL_EMAIL
    assert receipt.occurred_at.ToDatetime().isoformat() == "2026-11-23T10:00:00.123456"


def test_hard_bounce_is_a_bounced_receipt_and_a_suppression() -> None:
    feedback = feedback_from_postmark(
        {
            "RecordType": "Bounce",
            "Type": "HardBounce",
            "TypeCode": 1,
            "MessageID": "pm-2",
            "Email": "gone@example.org",
            "Description": "The server was unable to deliver your message",
            "BouncedAt": "2026-11-23T10:00:00Z",
            "Metadata": METADATA,
        }
    )
    [receipt] = feedback.receipts
    assert receipt.status == campaign_pb2.DELIVERY_STATUS_BOUNCED
    assert receipt.error_code == "HardBounce"
    assert "unable to deliver" in receipt.error_message
    [event] = feedback.suppressions
    assert (event.address, event.reason, event.delivery_id) == (
        "gone@example.org",
        "hard_bounce",
        "d-9",
    )
    assert event.action == bus_pb2.SuppressionEvent.ACTION_SUPPRESS


def test_soft_bounce_suppresses_nobody() -> None:
    feedback = feedback_from_postmark(
        {
            "RecordType": "Bounce",
            "Type": "SoftBounce",
            "Email": "full@example.org",
            "Metadata": METADATA,
        }
    )
    assert [r.status for r in feedback.receipts] == [campaign_pb2.DELIVERY_STATUS_BOUNCED]
    assert feedback.suppressions == []


def test_complaint_suppresses_without_a_receipt() -> None:
    feedback = feedback_from_postmark(
        {"RecordType": "SpamComplaint", "Email": "angry@example.org", "Metadata": METADATA}
    )
    assert feedback.receipts == []
    assert [(e.address, e.reason) for e in feedback.suppressions] == [
        ("angry@example.org", "complaint")
    ]


def test_events_of_mail_we_did_not_tag_still_suppress_but_make_no_receipt() -> None:
    feedback = feedback_from_postmark(
        {"RecordType": "Bounce", "Type": "HardBounce", "Email": "x@example.org"}
    )
    assert feedback.receipts == []
    assert len(feedback.suppressions) == 1


def _subscription_change(**fields: object) -> dict[str, object]:
    """A SubscriptionChange record as Postmark documents it."""
    return {
        "RecordType": "SubscriptionChange",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "ServerID": 123456,
        "MessageStream": "broadcast",
        "ChangedAt": "2026-12-02T10:53:34.416071Z",
        "Recipient": "reader@example.org",
        "Origin": "Recipient",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "Tag": "",
        "Metadata": METADATA,
    } | fields


def test_an_unsubscribe_made_at_postmark_suppresses_the_address() -> None:
    # It used to be answered and ignored: the person kept receiving our mail.
    feedback = feedback_from_postmark(_subscription_change())
    [event] = feedback.suppressions
    assert (event.channel, event.address, event.action, event.reason) == (
        campaign_pb2.CHANNEL_EMAIL,
        "reader@example.org",
        bus_pb2.SuppressionEvent.ACTION_SUPPRESS,
        "unsubscribe",
    )
    assert event.delivery_id == "d-9"
    assert event.occurred_at.ToJsonString() == "2026-12-02T10:53:34.416071Z"
    assert feedback.receipts == []


def test_suppressions_made_at_postmark_keep_their_reason() -> None:
    reasons = [
        feedback_from_postmark(_subscription_change(**change)).suppressions[0].reason
        for change in (
            {"Origin": "Customer"},
            {"SuppressionReason": "HardBounce", "Origin": "Admin"},
            {"SuppressionReason": "SpamComplaint"},
        )
    ]
    assert reasons == ["manual_suppression", "hard_bounce", "complaint"]


def test_a_reactivation_at_postmark_is_not_taken_as_consent() -> None:
    feedback = feedback_from_postmark(_subscription_change(SuppressSending=False))
    assert (feedback.suppressions, feedback.receipts) == ([], [])


def test_unknown_records_are_ignored_and_garbage_refused() -> None:
    assert feedback_from_postmark({"RecordType": "Open", "Metadata": METADATA}).receipts == []
    with pytest.raises(InvalidEventError, match="RecordType"):
        feedback_from_postmark(["not", "a", "record"])


def test_valid_unsubscribe_token() -> None:
    token = sign({"c": "email", "a": "reader@example.org", "d": "d-1", "k": "c-1"}, "s3cret")
    event = unsubscribe_event(token, "s3cret")
    assert (event.channel, event.address, event.reason, event.delivery_id) == (
        campaign_pb2.CHANNEL_EMAIL,
        "reader@example.org",
        "unsubscribe",
        "d-1",
    )


def test_forged_and_foreign_tokens_are_refused() -> None:
    token = sign({"c": "email", "a": "reader@example.org", "d": "d-1", "k": "c-1"}, "other")
    with pytest.raises(UnsubscribeRefusedError) as caught:
        unsubscribe_event(token, "s3cret")
    assert caught.value.forged
    body, mac = token.split(".")
    with pytest.raises(UnsubscribeRefusedError):
        unsubscribe_event(body + "x." + mac, "other")
    sms = sign({"c": "sms", "a": "+15551234567", "d": "d", "k": "c"}, "s3cret")
    with pytest.raises(UnsubscribeRefusedError) as caught:
        unsubscribe_event(sms, "s3cret")
    assert not caught.value.forged
