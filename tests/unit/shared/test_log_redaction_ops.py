"""Redaction of what real service logs contain: ids stay readable, links and numbers do not."""

from __future__ import annotations

import uuid

import pytest

from brandcast.shared import tokens
from brandcast.shared.logs import redact


def test_delivery_ids_in_access_logs_stay_readable() -> None:
    delivery_id = "73b295f8-f16c-4301-8456-b92e52b2a3f5"
    line = f'127.0.0.1:49996 - "POST /status?d={delivery_id}&c={uuid.uuid4()} HTTP/1.1" 200'
    assert delivery_id in redact(line)


def test_unsubscribe_links_hide_the_address_they_carry() -> None:
    url = tokens.unsubscribe_url(
        "http://127.0.0.1:8025/unsubscribe",
        channel="email",
        address="ann@example.com",
        delivery_id="d1",
        campaign_id="c1",
        secret="s3cret",
    )
    token = url.rsplit("/", 1)[1]
    redacted = redact(f'"POST /unsubscribe/{token} HTTP/1.1" 200')
    assert token.split(".")[0] not in redacted
    assert "/unsubscribe/[token]" in redacted


@pytest.mark.parametrize("number", ["415-555-0100", "+33 6 12 34 56 78", "(415) 555 0100"])
def test_phone_numbers_between_words_are_still_masked(number: str) -> None:
    assert redact(f"sms to {number} queued") == "sms to [phone] queued"
