"""LinkedIn against the emulator: the Posts API, little-text commentary, errors."""

from __future__ import annotations

import time

import httpx
import pytest

from brandcast.shared.errors import PermanentProviderError, TransientProviderError
from brandcast.social.accounts import AccountConfig
from brandcast.social.credential_store import LocalCredentialStore
from brandcast.social.emulator import RunningEmulator
from brandcast.social.networks import LinkedIn
from brandcast.v1 import variant_pb2


def _account(emulator: RunningEmulator, **values: str) -> AccountConfig:
    credentials = {"access_token": "sandbox-acme", "organization_id": "2414183"} | values
    return AccountConfig("acme-li", "linkedin", emulator.url, values=credentials)


def test_a_post_becomes_an_organization_share_with_its_urn(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    post = variant_pb2.SocialVariant(
        text="Spring sale (20% off) #SpringSale",
        link_card=variant_pb2.LinkCard(url="https://acme.example/sale", title="Spring sale"),
    )
    outcome = LinkedIn(http_client).publish(_account(emulator), post, idempotency_key="k")

    [share] = emulator.posts("linkedin")
    assert share["account"] == "urn:li:organization:2414183"
    assert share["text"] == r"Spring sale \(20% off\) {hashtag|\#|SpringSale}"
    assert share["content"] == {
        "article": {"source": "https://acme.example/sale", "title": "Spring sale"}
    }
    assert outcome.provider_message_id == share["id"]
    assert outcome.provider_message_id.startswith("urn:li:share:")
    assert outcome.public_url == f"https://www.linkedin.com/feed/update/{share['id']}/"


def test_429_without_reset_header_leaves_the_delay_to_the_backoff(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    emulator.inject("linkedin", "429")
    with pytest.raises(TransientProviderError) as throttled:
        LinkedIn(http_client).publish(
            _account(emulator), variant_pb2.SocialVariant(text="hi"), idempotency_key="k"
        )
    assert (throttled.value.code, throttled.value.retry_after) == ("rate_limited", None)


def test_content_error_fails_with_linkedins_message(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    emulator.inject("linkedin", "content_error")
    with pytest.raises(PermanentProviderError) as refused:
        LinkedIn(http_client).publish(
            _account(emulator), variant_pb2.SocialVariant(text="hi"), idempotency_key="k"
        )
    assert refused.value.code == "rejected_422"
    assert refused.value.message == (
        "ERROR :: /commentary :: Content is a duplicate of an existing post"
    )


def test_an_invalid_author_is_refused_with_the_field_named(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    with pytest.raises(PermanentProviderError) as refused:
        LinkedIn(http_client).publish(
            _account(emulator, organization_id="not an id"),
            variant_pb2.SocialVariant(text="hi"),
            idempotency_key="k",
        )
    assert "/author" in refused.value.message


def test_expired_token_fails_as_expired_credentials(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    emulator.inject("linkedin", "expired_token")
    with pytest.raises(PermanentProviderError) as refused:
        LinkedIn(http_client).publish(
            _account(emulator), variant_pb2.SocialVariant(text="hi"), idempotency_key="k"
        )
    assert refused.value.code == "expired_credentials"
    assert "has expired" in refused.value.message


def test_missing_organization_fails_as_missing_credentials(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    account = AccountConfig("acme-li", "linkedin", emulator.url, values={"access_token": "t"})
    with pytest.raises(PermanentProviderError) as refused:
        LinkedIn(http_client).publish(
            account, variant_pb2.SocialVariant(text="hi"), idempotency_key="k"
        )
    assert refused.value.code == "missing_credentials"
    assert "organization_id" in refused.value.message


def test_server_error_is_a_transient_outage(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    emulator.inject("linkedin", "500")
    with pytest.raises(TransientProviderError) as failed:
        LinkedIn(http_client).publish(
            _account(emulator), variant_pb2.SocialVariant(text="hi"), idempotency_key="k"
        )
    assert (failed.value.code, failed.value.outage) == ("http_500", True)


def test_the_default_version_is_served_and_the_old_default_is_refused_with_426(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    # The default used to be 202405, which LinkedIn retired in May 2025: every post failed.
    LinkedIn(http_client).publish(
        _account(emulator), variant_pb2.SocialVariant(text="hi"), idempotency_key="k"
    )
    with pytest.raises(PermanentProviderError) as refused:
        LinkedIn(http_client, version="202405").publish(
            _account(emulator), variant_pb2.SocialVariant(text="again"), idempotency_key="k2"
        )

    assert refused.value.code == "linkedin_version_retired"
    assert "SOCIAL_LINKEDIN_VERSION" in refused.value.message
    assert "202405" in refused.value.message
    assert [r["status"] for r in emulator.requests("/rest/posts")] == [201, 426]
    assert len(emulator.posts("linkedin")) == 1


def test_an_accounts_own_retired_version_names_the_accounts_setting(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    with pytest.raises(PermanentProviderError) as refused:
        LinkedIn(http_client).publish(
            _account(emulator, linkedin_version="202301"),
            variant_pb2.SocialVariant(text="hi"),
            idempotency_key="k",
        )
    assert "linkedin_version of account 'acme-li'" in refused.value.message


TOKEN = "/oauth/v2/accessToken"


def test_a_refused_token_is_refreshed_once_and_shared_through_the_store(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    credentials = LocalCredentialStore()  # one store, two workers
    first = LinkedIn(http_client, credentials=credentials)
    second = LinkedIn(http_client, credentials=credentials)
    account = _account(
        emulator, refresh_token="sandbox-acme-li-refresh", client_id="app", client_secret="s"
    )
    emulator.inject("linkedin", "expired_token")

    first.publish(account, variant_pb2.SocialVariant(text="one"), idempotency_key="k1")
    second.publish(account, variant_pb2.SocialVariant(text="two"), idempotency_key="k2")

    assert [r["status"] for r in emulator.requests(TOKEN)] == [200]
    assert [r["status"] for r in emulator.requests("/rest/posts")] == [401, 201, 201]
    assert [p["text"] for p in emulator.posts("linkedin")] == ["one", "two"]


def test_without_a_refresh_token_a_refused_token_is_expired_credentials(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    emulator.inject("linkedin", "expired_token")
    with pytest.raises(PermanentProviderError) as refused:
        LinkedIn(http_client).publish(
            _account(emulator), variant_pb2.SocialVariant(text="hi"), idempotency_key="k"
        )
    assert refused.value.code == "expired_credentials"
    assert emulator.requests(TOKEN) == []


def test_a_retry_after_a_lost_answer_finds_the_post_instead_of_posting_again(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    # The Posts API takes no idempotency key: the retry asks for the author's posts first.
    linkedin = LinkedIn(http_client)
    account = _account(emulator)
    post = variant_pb2.SocialVariant(text="Spring blend (20% off) #coffee")
    emulator.inject("linkedin", "late_answer", delay=3)
    started = time.time()
    with pytest.raises(TransientProviderError):
        linkedin.publish(account, post, idempotency_key="k")

    found = linkedin.find_published(account, post, since=started - 300)

    [share] = emulator.posts("linkedin")
    assert found is not None
    assert found.provider_message_id == share["id"]
    assert linkedin.find_published(account, post, since=time.time() + 60) is None
