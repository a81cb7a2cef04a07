"""How HTTP answers become transient or permanent errors (httpx.MockTransport)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from brandcast.shared.errors import PermanentProviderError, TransientProviderError
from brandcast.social.accounts import AccountConfig
from brandcast.social.networks import LinkedIn, Mastodon, X
from brandcast.social.networks._http import iso_reset_header, retry_after_header
from brandcast.v1 import variant_pb2

NOW = 1_750_000_000.0


def _client(handler: httpx.MockTransport) -> httpx.Client:
    return httpx.Client(transport=handler)


def test_retry_after_in_seconds_and_as_http_date() -> None:
    assert retry_after_header(httpx.Headers({"Retry-After": "42"}), NOW) == 42.0
    when = datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=90)
    headers = httpx.Headers({"Retry-After": format_datetime(when, usegmt=True)})
    assert retry_after_header(headers, NOW) == 90.0
    assert retry_after_header(httpx.Headers({"Retry-After": "soon"}), NOW) is None
    assert retry_after_header(httpx.Headers(), NOW) is None


def test_iso_reset_in_the_past_means_now() -> None:
    read = iso_reset_header("x-ratelimit-reset")
    assert read(httpx.Headers({"x-ratelimit-reset": "2020-01-01T00:00:00.000Z"}), NOW) == 0.0


def test_retry_after_header_wins_on_any_network() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow down"})

    account = AccountConfig(
        "a", "linkedin", "https://li.test", values={"access_token": "t", "organization_id": "1"}
    )
    with pytest.raises(TransientProviderError) as throttled:
        LinkedIn(_client(httpx.MockTransport(handler)), clock=lambda: NOW).publish(
            account, variant_pb2.SocialVariant(text="hi"), idempotency_key="k"
        )
    assert (throttled.value.retry_after, throttled.value.provider) == (7.0, "linkedin")


def test_x_epoch_reset_header() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"x-rate-limit-reset": str(int(NOW) + 600)})

    account = AccountConfig("a", "x", "https://x.test", values={"access_token": "t"})
    with pytest.raises(TransientProviderError) as throttled:
        X(_client(httpx.MockTransport(handler)), clock=lambda: NOW).publish(
            account, variant_pb2.SocialVariant(text="hi"), idempotency_key="k"
        )
    assert throttled.value.retry_after == 600.0


def test_refused_connection_is_an_outage() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    account = AccountConfig("a", "mastodon", "https://m.test", values={"access_token": "t"})
    with pytest.raises(TransientProviderError) as failed:
        Mastodon(_client(httpx.MockTransport(handler))).publish(
            account, variant_pb2.SocialVariant(text="hi"), idempotency_key="k"
        )
    assert (failed.value.code, failed.value.outage, failed.value.provider) == (
        "unreachable",
        True,
        "mastodon",
    )


def test_mastodon_without_v2_instance_uses_default_limits() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/api/v2/instance":
            return httpx.Response(404, json={"error": "Not found"})
        return httpx.Response(200, json={"id": "1", "url": "https://m.test/@a/1"})

    mastodon = Mastodon(_client(httpx.MockTransport(handler)))
    assert mastodon.instance_limits("https://m.test").max_characters == 500
    account = AccountConfig("a", "mastodon", "https://m.test", values={"access_token": "t"})
    with pytest.raises(PermanentProviderError) as refused:
        mastodon.publish(account, variant_pb2.SocialVariant(text="x" * 501), idempotency_key="k")
    assert refused.value.code == "too_long"
    assert seen == ["/api/v2/instance"]


def test_mastodon_refuses_an_unknown_visibility() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(500))
    account = AccountConfig("a", "mastodon", "https://m.test", values={"access_token": "t"})
    with pytest.raises(PermanentProviderError) as refused:
        Mastodon(_client(transport)).publish(
            account,
            variant_pb2.SocialVariant(text="hi", visibility="friends"),
            idempotency_key="k",
        )
    assert refused.value.code == "invalid_visibility"
    assert "'friends'" in refused.value.message


def test_an_access_token_past_its_expiry_is_not_sent() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(201, headers={"x-restli-id": "urn:li:share:1"})

    account = AccountConfig(
        "a",
        "linkedin",
        "https://li.test",
        values={"access_token": "t", "organization_id": "1"},
        expires_at=datetime(2020, 1, 1, tzinfo=UTC),
    )
    with pytest.raises(PermanentProviderError) as refused:
        LinkedIn(_client(httpx.MockTransport(handler))).publish(
            account, variant_pb2.SocialVariant(text="hi"), idempotency_key="k"
        )
    assert refused.value.code == "expired_credentials"
    assert calls == []
