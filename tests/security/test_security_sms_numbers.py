"""Scenario 13: SMS pumping. Malformed and premium-rate numbers are refused with
a reason before any provider is called, and a 1,000-message burst to one
destination prefix is capped (>= 99% blocked). The real SMS delivery function
(Redis-backed cap) sends to the real emulator over loopback HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from brandcast.shared.delivery import RetryPolicy, process_batch
from brandcast.sms.bootstrap import bootstrap
from brandcast.sms.emulator import EmulatorServer, start_emulator
from brandcast.sms.settings import SmsSettings
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2

REASONS = {"invalid_number", "premium_rate", "landline", "country_not_allowed"}
BAD_NUMBERS = [
    "",
    " ",
    "12345",
    "+1",
    "+1415abc0101",
    "+14155550101\nBcc: x",
    "+1 (415) 555-0101 ext 2",
    "+999123456789",
    "+0044740012345",
    "☎+14155550101",
    "+19005551234",  # US premium rate
    "+18005550199",  # US toll free
    "+449098790879",  # GB premium rate
    "+448456789012",  # GB shared cost
    "+33899123456",  # FR premium rate
    "+442079460000",  # GB landline
    "+79161234567",  # RU, not an allowed country
    "+2348012345678",  # NG, not an allowed country
]
BURST = 1000
CAP = 10


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    server, _ = start_emulator(0)
    try:
        yield server
    finally:
        server.stop()


def batch(numbers: list[str]) -> bus_pb2.DispatchBatch:
    out = bus_pb2.DispatchBatch(
        batch_id=uuid.uuid4().hex, campaign_id="pump", channel=campaign_pb2.CHANNEL_SMS
    )
    for i, number in enumerate(numbers):
        out.items.append(
            bus_pb2.DispatchItem(
                delivery_id=f"d{i}",
                idempotency_key=f"pump-{uuid.uuid4().hex}",
                address=number,
                sms=variant_pb2.SmsVariant(text="Win a prize", sender="+14155550100"),
            )
        )
    return out


def test_pumping_numbers_and_bursts_are_refused(emulator: EmulatorServer) -> None:
    settings = SmsSettings(
        sms_twilio_base_url=emulator.url,
        sms_callback_base_url="http://127.0.0.1:9",
        sms_rate_limit=0,
        sms_prefix_cap=CAP,
        sms_prefix_digits=3,
        sms_redis_namespace=f"pump-{uuid.uuid4().hex[:8]}",
    )
    deliver = bootstrap(settings)

    bad = process_batch(batch(BAD_NUMBERS), deliver, RetryPolicy())
    refused = [r for r in bad.receipts if r.status == campaign_pb2.DELIVERY_STATUS_FAILED]
    reasons = {r.error_code for r in refused}
    assert bad.retry is None
    assert len(refused) == len(BAD_NUMBERS), [r.error_code for r in bad.receipts]
    assert reasons <= REASONS, reasons
    assert all("address" in r.error_message for r in refused)
    assert emulator.messages() == []

    # A burst to one prefix (+44 740...), all valid mobile numbers.
    burst = [f"+447400{i:06d}" for i in range(BURST)]
    outcome = process_batch(batch(burst), deliver, RetryPolicy())
    capped = [r for r in outcome.receipts if r.error_code == "prefix_cap_exceeded"]
    sent = [r for r in outcome.receipts if r.status == campaign_pb2.DELIVERY_STATUS_SENT]
    blocked = len(capped) / BURST
    print(
        f"\nscenario=13 bad_numbers={len(BAD_NUMBERS)} refused={len(refused)} "
        f"reasons={sorted(reasons)} burst={BURST} sent={len(sent)} blocked={blocked:.1%}"
    )
    assert len(sent) + len(capped) == BURST
    assert blocked >= 0.99
    assert len(emulator.messages()) == len(sent)
