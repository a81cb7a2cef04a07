"""Provider request shapes and error mapping, through httpx.MockTransport."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

import httpx
import pytest

from brandcast.shared.errors import PermanentProviderError, TransientProviderError
from brandcast.sms.providers import TwilioProvider, VonageProvider
from brandcast.sms.providers._http import retry_after_seconds
from brandcast.sms.providers._port import ReportCallback


def twilio(handler: object) -> TwilioProvider:
    return TwilioProvider(
        "http://provider.test",
        "AC123",
        "secret",
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
    )


def vonage(handler: object) -> VonageProvider:
    return VonageProvider(
        "http://provider.test",
        "key",
        "secret",
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
    )


def test_twilio_request_shape_and_success() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"sid": "SM1", "status": "queued"})

    outcome = twilio(handler).send(
        "+447400123456",
        "+15005550006",
        "Hi",
        idempotency_key="k1",
        report=ReportCallback("http://cb", "1", "c"),
    )
    assert outcome.provider == "twilio"
    assert outcome.provider_message_id == "SM1"
    request = seen[0]
    assert request.url.path == "/2010-04-01/Accounts/AC123/Messages.json"
    # Twilio's Messages API has no idempotency header: sending one would only pretend.
    assert not [name for name in request.headers if "idempotency" in name.lower()]
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"AC123:secret").decode()
    form = parse_qs(request.content.decode())
    assert form == {
        "To": ["+447400123456"],
        "From": ["+15005550006"],
        "Body": ["Hi"],
        "StatusCallback": ["http://cb/status/twilio?d=1&c=c"],
    }


def _send_twilio(response: httpx.Response) -> None:
    twilio(lambda _: response).send("+1", "+2", "x", idempotency_key="k")


def test_twilio_429_is_transient_with_retry_after() -> None:
    response = httpx.Response(
        429, json={"code": 20429, "message": "Too Many Requests"}, headers={"Retry-After": "7"}
    )
    with pytest.raises(TransientProviderError) as info:
        _send_twilio(response)
    assert (info.value.code, info.value.retry_after, info.value.outage) == ("20429", 7.0, False)


def test_twilio_5xx_is_an_outage() -> None:
    with pytest.raises(TransientProviderError) as info:
        _send_twilio(httpx.Response(503, text="upstream down"))
    assert info.value.outage
    assert info.value.code == "503"


def test_twilio_400_is_permanent_with_the_providers_code() -> None:
    response = httpx.Response(
        400, json={"code": 21211, "message": "The 'To' number is not valid", "status": 400}
    )
    with pytest.raises(PermanentProviderError) as info:
        _send_twilio(response)
    assert info.value.code == "21211"
    assert "not valid" in info.value.message
    assert info.value.provider == "twilio"


def test_twilio_timeout_and_refused_connection_are_outages() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    for handler, code in ((timeout, "timeout"), (refused, "connection_error")):
        with pytest.raises(TransientProviderError) as info:
            twilio(handler).send("+1", "+2", "x", idempotency_key="k")
        assert info.value.outage
        assert info.value.code == code


def test_twilio_2xx_without_sid_is_retried_not_lost() -> None:
    with pytest.raises(TransientProviderError):
        _send_twilio(httpx.Response(201, text="<html>"))


def test_twilio_lookup_matches_the_body_created_since_the_dispatch() -> None:
    seen: list[httpx.Request] = []
    listed = [
        {"sid": "SMnew", "body": "Other", "date_created": "Wed, 02 Dec 2026 12:00:05 +0000"},
        {"sid": "SMmine", "body": "Hi", "date_created": "Wed, 02 Dec 2026 12:00:01 +0000"},
        {"sid": "SMold", "body": "Hi", "date_created": "Tue, 01 Dec 2026 09:00:00 +0000"},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"messages": listed, "next_page_uri": None})

    since = 1_796_212_800.0  # 2026-12-02 12:00:00 UTC
    provider = twilio(handler)
    found = provider.find_sent("+447400123456", "+15005550006", "Hi", since=since)
    assert found is not None
    assert found.provider_message_id == "SMmine"
    assert provider.find_sent("+447400123456", "+15005550006", "Hi", since=since + 2) is None
    request = seen[0]
    assert (request.method, request.url.path) == ("GET", "/2010-04-01/Accounts/AC123/Messages.json")
    assert dict(request.url.params) == {
        "To": "+447400123456",
        "From": "+15005550006",
        "PageSize": "50",
    }


def test_vonage_request_shape_and_success() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"message_uuid": "aaaa-bbbb"})

    outcome = vonage(handler).send("+447400123456", "+15005550006", "Hi", idempotency_key="k" * 150)
    assert (outcome.provider, outcome.provider_message_id) == ("vonage", "aaaa-bbbb")
    body = json.loads(seen[0].content)
    assert body == {
        "message_type": "text",
        "channel": "sms",
        "to": "447400123456",
        "from": "15005550006",
        "text": "Hi",
        "client_ref": "k" * 100,
    }
    assert seen[0].url.path == "/v1/messages"
    assert seen[0].headers["Authorization"].startswith("Basic ")


def test_vonage_problem_documents_give_the_code() -> None:
    problem = {
        "type": "https://developer.vonage.com/api-errors/messages-olympus#1150",
        "title": "Invalid params",
        "detail": "The value of 'to' is invalid",
    }
    with pytest.raises(PermanentProviderError) as info:
        vonage(lambda _: httpx.Response(422, json=problem)).send(
            "+1", "+2", "x", idempotency_key="k"
        )
    assert info.value.code == "1150"
    assert info.value.message == "Invalid params - The value of 'to' is invalid"


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=lambda: 1445412480.0) == 10.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_missing_credentials_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="SMS_TWILIO_ACCOUNT_SID"):
        TwilioProvider("http://x", "", "token")
