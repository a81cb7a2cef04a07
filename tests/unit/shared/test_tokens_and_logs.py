from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# Any text UTF-8 can carry (surrogates cannot be encoded, so no address has one).
_text = st.text(st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    address=_text.filter(bool),
    delivery_id=_text.filter(bool),
    campaign_id=_text.filter(bool),
    brand=_text,
    brand_color=st.sampled_from(["", "#112233", "#abcdef"]),
    base=st.sampled_from(["https://acme.example/u", "https://acme.example/u/", "http://h:1/x"]),
)
def test_a_campaigns_unsubscribe_links_are_tokens_any_reader_verifies(
    address: str,
    delivery_id: str,
    campaign_id: str,
    brand: str,
    brand_color: str,
    base: str,
) -> None:
    links = tokens.UnsubscribeLinks(
        base,
        channel="email",
        campaign_id=campaign_id,
        secret="s3cret",
        brand=brand,
        brand_color=brand_color,
    )
    url = links.url(address=address, delivery_id=delivery_id)
    prefix, _, token = url.rpartition("/")
    assert prefix == base.rstrip("/")
    expected = {"c": "email", "a": address, "d": delivery_id, "k": campaign_id}
    if brand:
        expected["b"] = brand[:80]
    if brand_color:
        expected["p"] = brand_color
    assert tokens.verify(token, "s3cret") == expected
    # Checked as a reader with nothing but the standard library would: the
    # HMAC-SHA256 of the body, and the body base64url of a JSON object.
    body, _, mac = token.partition(".")
    assert hmac.compare_digest(
        base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4)),
        hmac.new(b"s3cret", body.encode(), hashlib.sha256).digest(),
    )
    assert json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))) == expected
    with pytest.raises(tokens.InvalidTokenError):
        tokens.verify(token, "other-secret")
    # The one-off function makes the same link as the campaign's maker.
    assert url == tokens.unsubscribe_url(
        base,
        channel="email",
        address=address,
        delivery_id=delivery_id,
        campaign_id=campaign_id,
        secret="s3cret",
        brand=brand,
        brand_color=brand_color,
    )


def test_links_of_one_campaign_differ_per_delivery_and_cannot_be_swapped() -> None:
    links = tokens.UnsubscribeLinks(
        "https://acme.example/u", channel="email", campaign_id="c1", secret="s3cret"
    )
    ann = links.url(address="ann@example.com", delivery_id="d1").rpartition("/")[2]
    bob = links.url(address="bob@example.com", delivery_id="d2").rpartition("/")[2]
    assert ann != bob
    # Bob's body under Ann's signature: the campaign's shared part is signed
    # with each delivery's own, so no part of one token fits another.
    forged = bob.partition(".")[0] + "." + ann.partition(".")[2]
    with pytest.raises(tokens.InvalidTokenError):
        tokens.verify(forged, "s3cret")
    with pytest.raises(ValueError, match="secret"):
        tokens.UnsubscribeLinks(
            "https://acme.example/u", channel="email", campaign_id="c", secret=""
        )
