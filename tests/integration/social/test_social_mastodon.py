"""Mastodon against the emulator: posting, idempotency, instance limits, errors."""

from __future__ import annotations

import httpx
import pytest

from brandcast.shared.errors import PermanentProviderError, TransientProviderError
from brandcast.social.accounts import AccountConfig
from brandcast.social.emulator import EmulatorState, RunningEmulator
from brandcast.social.networks import Mastodon
from brandcast.v1 import variant_pb2


def _account(emulator: RunningEmulator, token: str = "sandbox-acme") -> AccountConfig:
    return AccountConfig("acme-masto", "mastodon", emulator.url, values={"access_token": token})


def _post(
    text: str = "Spring sale: 20% off https://acme.example/sale",
) -> variant_pb2.SocialVariant:
    return variant_pb2.SocialVariant(text=text, language="en", visibility="unlisted")


def test_a_post_becomes_one_status_with_its_url(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    outcome = Mastodon(http_client).publish(_account(emulator), _post(), idempotency_key="k-1")

    [status] = emulator.posts("mastodon")
    assert outcome.provider == "mastodon"
    assert outcome.provider_message_id == status["id"]
    assert outcome.public_url == status["url"] == f"{emulator.url}/@acme/{status['id']}"
    assert status["text"] == "Spring sale: 20% off https://acme.example/sale"
    assert (status["visibility"], status["language"], status["idempotency_key"]) == (
        "unlisted",
        "en",
        "k-1",
    )


def test_the_same_idempotency_key_twice_gives_one_status(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    mastodon = Mastodon(http_client)
    first = mastodon.publish(_account(emulator), _post(), idempotency_key="same-key")
    again = mastodon.publish(_account(emulator), _post(), idempotency_key="same-key")
    other = mastodon.publish(_account(emulator), _post(), idempotency_key="other-key")

    assert again.provider_message_id == first.provider_message_id
    assert other.provider_message_id != first.provider_message_id
    assert len(emulator.posts("mastodon")) == 2


@pytest.mark.parametrize("emulator_state", [EmulatorState(mastodon_max_characters=60)])
def test_text_over_the_instance_limit_is_refused_before_posting(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    mastodon = Mastodon(http_client)
    # 40 characters plus a 23-character URL: 64 > 60, though the raw text is longer still.
    long_text = "a" * 40 + " https://acme.example/" + "x" * 60
    with pytest.raises(PermanentProviderError) as refused:
        mastodon.publish(_account(emulator), _post(long_text), idempotency_key="k")
    assert refused.value.code == "too_long"
    assert "64 characters" in refused.value.message
    assert "allows 60" in refused.value.message
    # A URL counts as 23 however long it is: 30 + 1 + 23 = 54 fits.
    fits = "b" * 30 + " https://acme.example/" + "y" * 200
    mastodon.publish(_account(emulator), _post(fits), idempotency_key="k2")
    assert [p["text"] for p in emulator.posts("mastodon")] == [fits]
    # The limits were read once and cached.
    assert len(emulator.requests("/api/v2/instance")) == 1


def test_rate_limit_reset_header_gives_retry_after(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    emulator.inject("mastodon", "429", retry_after=120)
    with pytest.raises(TransientProviderError) as throttled:
        Mastodon(http_client).publish(_account(emulator), _post(), idempotency_key="k")
    assert throttled.value.code == "rate_limited"
    assert throttled.value.outage is False
    assert throttled.value.retry_after is not None
    assert 110 <= throttled.value.retry_after <= 120
    assert emulator.posts() == []


def test_server_error_is_a_transient_outage(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    emulator.inject("mastodon", "500")
    with pytest.raises(TransientProviderError) as failed:
        Mastodon(http_client).publish(_account(emulator), _post(), idempotency_key="k")
    assert (failed.value.code, failed.value.outage) == ("http_500", True)


def test_content_error_fails_with_mastodons_message(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    emulator.inject("mastodon", "content_error")
    with pytest.raises(PermanentProviderError) as refused:
        Mastodon(http_client).publish(_account(emulator), _post(), idempotency_key="k")
    assert refused.value.code == "rejected_422"
    assert refused.value.message == "Validation failed: Text contains a forbidden word"


def test_revoked_token_fails_as_expired_credentials(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    emulator.inject("mastodon", "expired_token")
    with pytest.raises(PermanentProviderError) as refused:
        Mastodon(http_client).publish(_account(emulator), _post(), idempotency_key="k")
    assert refused.value.code == "expired_credentials"
    assert "The access token is invalid" in refused.value.message
    assert "sandbox-acme" not in refused.value.message


def test_missing_token_fails_as_missing_credentials(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    with pytest.raises(PermanentProviderError) as refused:
        Mastodon(http_client).publish(_account(emulator, token=""), _post(), idempotency_key="k")
    assert refused.value.code == "missing_credentials"
    assert "access_token" in refused.value.message
    assert emulator.requests() == []


def test_timeout_is_a_transient_outage(emulator: RunningEmulator) -> None:
    emulator.inject("mastodon", "timeout", delay=2.0)
    with httpx.Client(timeout=0.3) as client:
        mastodon = Mastodon(client)
        mastodon.instance_limits(emulator.url)
        with pytest.raises(TransientProviderError) as failed:
            mastodon.publish(_account(emulator), _post(), idempotency_key="k")
    assert (failed.value.code, failed.value.outage) == ("timeout", True)
