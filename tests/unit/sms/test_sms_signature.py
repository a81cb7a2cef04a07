from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator, get_signature_algorithm

from brandcast.sms.signature import (
    is_genuine_twilio_request,
    is_valid_twilio_signature,
    twilio_signature,
)

# The worked example from Twilio's security documentation.
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+12349013030"),
    ("Digits", "1234"),
    ("From", "+12349013030"),
    ("To", "+18005551212"),
]


def test_matches_twilios_documented_example() -> None:
    assert twilio_signature(URL, PARAMS, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_parameter_order_does_not_matter() -> None:
    assert twilio_signature(URL, reversed(PARAMS), "12345") == twilio_signature(
        URL, PARAMS, "12345"
    )


def test_any_change_breaks_the_signature() -> None:
    good = twilio_signature(URL, PARAMS, "12345")
    assert is_valid_twilio_signature(URL, PARAMS, good, "12345")
    assert not is_valid_twilio_signature(URL, PARAMS, good, "other-token")
    assert not is_valid_twilio_signature(URL + "&d=other", PARAMS, good, "12345")
    assert not is_valid_twilio_signature(URL, [*PARAMS[:-1], ("To", "+1999")], good, "12345")
    assert not is_valid_twilio_signature(URL, PARAMS, "", "12345")
    assert not is_valid_twilio_signature(URL, PARAMS, good, "")


# -- against Twilio's own validator (twilio.request_validator, a dev dependency) --------

HTTPS_URLS = [
    "https://hooks.acme.example/status?d=d-1&c=c-1",
    "https://hooks.acme.example:443/status?d=d-1&c=c-1",
    "http://hooks.acme.example/inbound",
    "http://hooks.acme.example:80/inbound",
    "https://hooks.acme.example:8443/sms/inbound",
]
REPLY = [
    ("MessageSid", "SM0123456789abcdef"),
    ("From", "+14155550101"),
    ("Body", "STOP"),
    ("Body", "stop"),  # a name may repeat: every distinct value is signed
    ("To", "+15005550006"),
]


def _official(token: str) -> RequestValidator:
    return RequestValidator(token)


def _multidict(pairs: list[tuple[str, str]]) -> _MultiDict:
    return _MultiDict(pairs)


class _MultiDict(dict[str, str]):
    """What Flask hands Twilio's validator: ``getall`` returns every value of a name."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self._pairs = pairs

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self._pairs if key == name]


@pytest.mark.parametrize("url", HTTPS_URLS)
def test_our_signature_is_twilios(url: str) -> None:
    official = _official("12345").compute_signature(url, _multidict(REPLY))
    assert twilio_signature(url, REPLY, "12345") == official


@pytest.mark.parametrize("url", HTTPS_URLS)
def test_what_twilios_validator_accepts_we_accept_with_and_without_the_port(url: str) -> None:
    validator = _official("12345")
    for signed_url in (url, url.replace("example/", "example:443/", 1)):
        signature = validator.compute_signature(signed_url, _multidict(REPLY))
        expected = validator.validate(url, _multidict(REPLY), signature)
        assert is_valid_twilio_signature(url, REPLY, signature, "12345") == expected, signed_url
    # Twilio signed with ":443" while we rebuild the URL without it: both accept.
    with_port = "https://hooks.acme.example:443/status?d=d-1&c=c-1"
    signature = validator.compute_signature(with_port, _multidict(REPLY))
    plain = "https://hooks.acme.example/status?d=d-1&c=c-1"
    assert validator.validate(plain, _multidict(REPLY), signature)
    assert is_valid_twilio_signature(plain, REPLY, signature, "12345")


def test_a_json_body_is_checked_by_its_sha256_as_twilio_does() -> None:
    body = '{"CallSid":"CA1234567890ABCDE","Caller":"+12349013030"}'
    url = (
        "https://example.com/myapp?bodySHA256="
        "5ccde7145dfb8f56479710896586cb9d5911809d83afbe34627818790db0aec9"
    )
    signature = _official("12345").compute_signature(url, {})
    assert _official("12345").validate(url, body, signature)
    assert is_valid_twilio_signature(url, [], signature, "12345", body=body)
    tampered = body.replace("CA1", "CA9")
    assert not _official("12345").validate(url, tampered, signature)
    assert not is_valid_twilio_signature(url, [], signature, "12345", body=tampered)


def test_a_webhook_signed_with_a_shared_key_and_hmac_sha256() -> None:
    url = "https://hooks.acme.example/inbound"
    settings = "key=webhooks_sharedkey_123,algorithm=HMAC_SHA256"
    signature = _official("shared-secret").compute_signature(
        url, _multidict(REPLY), get_signature_algorithm(settings)
    )
    headers = {"x-twilio-signature": signature, "x-twilio-webhooks-signature-settings": settings}
    assert is_genuine_twilio_request(
        url, REPLY, headers, auth_token="auth-token", shared_key="shared-secret"
    )
    # Not with the auth token, and not as HMAC-SHA1.
    assert not is_genuine_twilio_request(url, REPLY, headers, auth_token="shared-secret")
    sha1 = {**headers, "x-twilio-webhooks-signature-settings": "key=webhooks_sharedkey_123"}
    assert not is_genuine_twilio_request(
        url, REPLY, sha1, auth_token="auth-token", shared_key="shared-secret"
    )
