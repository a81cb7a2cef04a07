"""X against the emulator: tweets, OAuth 2.0 token refresh, rate limits, errors."""

from __future__ import annotations

import time

import httpx
import pytest

from brandcast.shared.errors import PermanentProviderError, TransientProviderError
from brandcast.social.accounts import AccountConfig
from brandcast.social.emulator import RunningEmulator
from brandcast.social.networks import X
from brandcast.v1 import variant_pb2

TOKEN = "/2/oauth2/token"


def _account(emulator: RunningEmulator, **values: str) -> AccountConfig:
    credentials = {"access_token": "sandbox-acme", "client_id": "brandcast-app"} | values
    return AccountConfig("acme-x", "x", emulator.url, values=credentials, handle="acme")


def _post(text: str = "Spring sale: 20% off") -> variant_pb2.SocialVariant:
    return variant_pb2.SocialVariant(text=text)


def test_a_post_becomes_a_tweet_with_its_url(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    outcome = X(http_client).publish(_account(emulator), _post(), idempotency_key="k")

    [tweet] = emulator.posts("x")
    assert (tweet["account"], tweet["text"]) == ("acme", "Spring sale: 20% off")
    assert outcome.provider == "x"
    assert outcome.provider_message_id == tweet["id"]
    assert outcome.public_url == f"https://x.com/acme/status/{tweet['id']}"


def test_a_401_refreshes_the_token_once_and_posts(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    x = X(http_client)
    account = _account(emulator, refresh_token="sandbox-acme-refresh")
    emulator.inject("x", "expired_token")

    outcome = x.publish(account, _post("one"), idempotency_key="k1")
    # The rotated tokens are kept: the next post needs no refresh.
    x.publish(account, _post("two"), idempotency_key="k2")

    assert [t["text"] for t in emulator.posts("x")] == ["one", "two"]
    assert outcome.provider_message_id == emulator.posts("x")[0]["id"]
    assert [r["status"] for r in emulator.requests(TOKEN)] == [200]
    assert [r["status"] for r in emulator.requests("/2/tweets")] == [401, 201, 201]


def test_a_401_without_refresh_token_fails_as_expired_credentials(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    emulator.inject("x", "expired_token")
    with pytest.raises(PermanentProviderError) as refused:
        X(http_client).publish(_account(emulator), _post(), idempotency_key="k")
    assert refused.value.code == "expired_credentials"
    assert "Unauthorized" in refused.value.message
    assert emulator.requests(TOKEN) == []


def test_a_refused_refresh_token_fails_as_expired_credentials(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    x = X(http_client)
    account = _account(emulator, refresh_token="sandbox-acme-refresh")
    emulator.inject("x", "expired_token", count=1)
    x.publish(account, _post("one"), idempotency_key="k1")  # uses up the refresh token
    fresh = X(http_client)  # another process still holding the old refresh token
    emulator.inject("x", "expired_token", count=1)
    with pytest.raises(PermanentProviderError) as refused:
        fresh.publish(account, _post("two"), idempotency_key="k2")
    assert refused.value.code == "expired_credentials"
    assert "Value passed for the token was invalid." in refused.value.message


def test_rate_limit_reset_header_gives_retry_after(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    emulator.inject("x", "429", retry_after=900)
    with pytest.raises(TransientProviderError) as throttled:
        X(http_client).publish(_account(emulator), _post(), idempotency_key="k")
    assert throttled.value.code == "rate_limited"
    assert throttled.value.retry_after is not None
    assert 890 <= throttled.value.retry_after <= 900


def test_service_unavailable_is_a_transient_outage(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    emulator.inject("x", "500")
    with pytest.raises(TransientProviderError) as failed:
        X(http_client).publish(_account(emulator), _post(), idempotency_key="k")
    assert (failed.value.code, failed.value.outage) == ("http_503", True)


def test_content_error_fails_with_xs_title_and_detail(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    emulator.inject("x", "content_error")
    with pytest.raises(PermanentProviderError) as refused:
        X(http_client).publish(_account(emulator), _post(), idempotency_key="k")
    assert refused.value.code == "rejected_403"
    assert refused.value.message == (
        "Forbidden: You are not permitted to create a Tweet with this content."
    )


def test_duplicate_content_is_refused_not_posted_twice(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    x = X(http_client)
    x.publish(_account(emulator), _post(), idempotency_key="k")
    with pytest.raises(PermanentProviderError) as refused:
        x.publish(_account(emulator), _post(), idempotency_key="k")
    assert "duplicate content" in refused.value.message
    assert len(emulator.posts("x")) == 1


def test_invalid_request_fails_with_xs_errors_list(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    with pytest.raises(PermanentProviderError) as refused:
        X(http_client).publish(_account(emulator), _post("   "), idempotency_key="k")
    assert (refused.value.code, refused.value.message) == (
        "rejected_400",
        "$.text: must not be empty",
    )


def test_the_emulator_counts_weighted_length_as_x_does(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    x = X(http_client)
    # 300 characters, but the 263-character link weighs 23: 60 in all, within X's 280.
    link = "https://acme.coffee/" + "spring-sale/" * 20 + "now"
    with_link = "Spring blend, roasted this week: " + link + " " + "x" * (300 - 34 - len(link))
    assert len(with_link) == 300
    x.publish(_account(emulator), _post(with_link), idempotency_key="k1")
    # 141 CJK characters weigh 282: refused although the characters are only 141.
    with pytest.raises(PermanentProviderError) as refused:
        x.publish(_account(emulator), _post("咖" * 141), idempotency_key="k2")

    assert "Your Tweet text is too long." in refused.value.message
    assert [t["text"] for t in emulator.posts("x")] == [with_link]


def test_a_retry_after_a_lost_answer_finds_the_tweet_in_the_timeline(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    # X returns links as t.co ones and & < > escaped: the lookup writes them back.
    x = X(http_client)
    text = "Spring blend & more <3 https://acme.coffee/spring?utm_source=x #coffee"
    started = time.time()
    posted = x.publish(_account(emulator), _post(text), idempotency_key="k")

    found = x.find_published(_account(emulator), _post(text), since=started - 300)

    assert found is not None
    assert found.provider_message_id == posted.provider_message_id
    assert x.find_published(_account(emulator), _post("another text"), since=started) is None
    timeline = emulator.requests()
    assert any(r["path"].endswith("/tweets") and r["method"] == "GET" for r in timeline)
