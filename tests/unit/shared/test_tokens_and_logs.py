from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging

import pytest

from brandcast.shared import tokens
from brandcast.shared.logs import JsonFormatter, RedactingFilter, redact


def test_token_round_trips_and_forgeries_fail() -> None:
    token = tokens.sign({"c": "email", "a": "ann@example.com", "d": "d1"}, "s3cret")
    assert tokens.verify(token, "s3cret") == {"c": "email", "a": "ann@example.com", "d": "d1"}
    with pytest.raises(tokens.InvalidTokenError):
        tokens.verify(token, "other-secret")
    _body, mac = token.split(".")
    forged = tokens.sign({"c": "email", "a": "eve@example.com", "d": "d1"}, "guess")
    with pytest.raises(tokens.InvalidTokenError):
        tokens.verify(forged.split(".")[0] + "." + mac, "s3cret")
    with pytest.raises(tokens.InvalidTokenError):
        tokens.verify("garbage", "s3cret")


def test_a_token_is_the_documented_format_so_links_already_sent_still_verify() -> None:
    # base64url(JSON with sorted keys, no spaces) "." base64url(HMAC-SHA256 of
    # that text): written out here by hand, as an adapter of an earlier release
    # reads it.
    payload = {"k": "camp-1", "c": "email", "a": "ann@example.com", "d": "del-1", "b": "Acmé"}
    body = base64.urlsafe_b64encode(
        json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    ).rstrip(b"=")
    mac = base64.urlsafe_b64encode(hmac.new(b"s3cret", body, hashlib.sha256).digest())
    expected = f"{body.decode()}.{mac.rstrip(b'=').decode()}"
    assert tokens.sign(payload, "s3cret") == expected
    assert tokens.verify(expected, "s3cret") == payload


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("sent to ann.lee+promo@example.co.uk ok", "ann.lee"),
        ("sms to +1 415 555 0100 queued", "555"),
        ("sms to +14155550100 queued", "4155550100"),
        ("call (415) 555-0100 now", "555-0100"),
        ("authorization: Bearer abc.def-ghi", "abc.def"),
        ("GET /cb?token=xyz123&d=1", "xyz123"),
    ],
)
def test_redaction_removes_personal_data(text: str, leak: str) -> None:
    assert leak not in redact(text)


@pytest.mark.parametrize(
    "text",
    ["connected to amqp://127.0.0.1:5672/vhost", "celery 5.7.0 ready", "took 1234 ms"],
)
def test_redaction_leaves_addresses_and_versions(text: str) -> None:
    assert redact(text) == text


def test_json_lines_are_redacted_and_carry_context() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "to %s", ("bob@example.org",), None)
    record.campaign_id = "c-42"
    RedactingFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "to [email]"
    assert line["campaign_id"] == "c-42"
