"""The Postmark provider's request and its reading of Postmark's answers (MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from brandcast.email.message import EmailMessage
from brandcast.email.providers.postmark import IDEMPOTENCY_HEADER, PostmarkProvider
from brandcast.shared.errors import PermanentProviderError, TransientProviderError

MESSAGE = EmailMessage(
    from_address="news@acme.example",
    from_name="Zoë «Acme»",
    to_address="reader@example.org",
    to_name="Reader",
    subject="Grüße",
    text="hello",
    html="<p>hello</p>",
    reply_to="help@acme.example",
    list_unsubscribe_url="https://acme.example/u/t1",
    list_unsubscribe_mailto="mailto:u@acme.example",
    metadata={"delivery_id": "d-1", "campaign_id": "c-1", "idempotency_key": "k-1"},
)


def provider(handler: Callable[[httpx.Request], httpx.Response]) -> PostmarkProvider:
    return PostmarkProvider(
        "http://postmark.test", "server-token", transport=httpx.MockTransport(handler)
    )


def test_request_carries_token_metadata_and_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"MessageID": "pm-42", "ErrorCode": 0, "Message": "OK"})

    outcome = provider(handler).send(MESSAGE, idempotency_key="k-1")
    assert (outcome.provider, outcome.provider_message_id) == ("postmark", "pm-42")
    request = seen[0]
    assert request.method == "POST"
    assert request.url.path == "/email"
    assert request.headers["X-Postmark-Server-Token"] == "server-token"
    body = json.loads(request.content)
    assert body["To"] == "Reader <reader@example.org>"
    assert body["From"].endswith("<news@acme.example>")
    assert body["Subject"] == "Grüße"
    assert (body["TextBody"], body["HtmlBody"], body["ReplyTo"]) == (
        "hello",
        "<p>hello</p>",
        "help@acme.example",
    )
    assert body["Metadata"] == {
        "delivery_id": "d-1",
        "campaign_id": "c-1",
        "idempotency_key": "k-1",
    }
    headers = {h["Name"]: h["Value"] for h in body["Headers"]}
    assert headers[IDEMPOTENCY_HEADER] == "k-1"
    assert headers["Message-ID"] == "<k-1@acme.example>"
    assert headers["List-Unsubscribe"] == "<https://acme.example/u/t1>, <mailto:u@acme.example>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Marketing goes to a broadcast stream, as Postmark requires, unless configured.
    assert body["MessageStream"] == "broadcast"


def answer(status: int, body: dict[str, object], **headers: str) -> PostmarkProvider:
    return provider(lambda _: httpx.Response(status, json=body, headers=headers))


def test_inactive_recipient_is_permanent_with_postmarks_code() -> None:
    text = "You tried to send to recipient(s) that have been marked as inactive."
    with pytest.raises(PermanentProviderError) as caught:
        answer(422, {"ErrorCode": 406, "Message": text}).send(MESSAGE, idempotency_key="k")
    assert (caught.value.code, caught.value.message, caught.value.provider) == (
        "406",
        text,
        "postmark",
    )


def test_429_is_transient_and_honours_retry_after() -> None:
    with pytest.raises(TransientProviderError) as caught:
        answer(429, {"ErrorCode": 429, "Message": "slow down"}, **{"Retry-After": "7"}).send(
            MESSAGE, idempotency_key="k"
        )
    assert caught.value.code == "429"
    assert caught.value.retry_after == 7.0
    assert not caught.value.outage


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_a_transient_outage(status: int) -> None:
    with pytest.raises(TransientProviderError) as caught:
        answer(status, {"ErrorCode": 100, "Message": "Maintenance"}).send(
            MESSAGE, idempotency_key="k"
        )
    assert caught.value.outage
    assert caught.value.code == str(status)


def test_bad_token_fails_over_instead_of_failing_deliveries() -> None:
    with pytest.raises(TransientProviderError) as caught:
        answer(401, {"ErrorCode": 10, "Message": "bad token"}).send(MESSAGE, idempotency_key="k")
    assert caught.value.outage


def test_timeouts_and_refused_connections_are_outages() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    for handler, code in ((timeout, "timeout"), (refused, "connection_failed")):
        with pytest.raises(TransientProviderError) as caught:
            provider(handler).send(MESSAGE, idempotency_key="k")
        assert (caught.value.code, caught.value.outage) == (code, True)
