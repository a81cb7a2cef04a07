"""EMAIL_PROVIDERS=null: the benchmark provider answers SENT with the key, sending nothing."""

from __future__ import annotations

import pytest

from brandcast.email.bootstrap import bootstrap
from brandcast.email.providers.null import NullProvider
from brandcast.email.settings import EmailSettings
from brandcast.shared.delivery import RetryPolicy, process_batch
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2


def test_null_provider_is_selected_by_configuration_and_reports_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EMAIL_PROVIDERS", "null")
    monkeypatch.delenv("EMAIL_RATE_LIMIT", raising=False)
    service = bootstrap(EmailSettings())
    assert [type(p) for p in service.providers] == [NullProvider]

    batch = bus_pb2.DispatchBatch(campaign_id="c1", channel=campaign_pb2.CHANNEL_EMAIL)
    batch.items.add(
        delivery_id="d1",
        idempotency_key="c1:r1:email",
        address="ada@example.com",
        email=variant_pb2.EmailVariant(
            from_address="news@acme.example", subject="Hi", text="Hello Ada"
        ),
    )
    outcome = process_batch(batch, service.deliver, RetryPolicy())

    [receipt] = outcome.receipts
    assert receipt.status == campaign_pb2.DELIVERY_STATUS_SENT
    assert (receipt.provider, receipt.provider_message_id) == ("null", "c1:r1:email")
    assert outcome.retry is None
