"""Bluesky against the emulator: records, facets at UTF-8 byte offsets, sessions."""

from __future__ import annotations

import httpx
import pytest

from brandcast.shared.errors import PermanentProviderError, TransientProviderError
from brandcast.social.accounts import AccountConfig
from brandcast.social.bootstrap import bootstrap
from brandcast.social.emulator import EmulatorState, RunningEmulator
from brandcast.social.networks import Bluesky
from brandcast.social.settings import SocialSettings
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2

Facet = variant_pb2.Facet
CREATE_SESSION = "/xrpc/com.atproto.server.createSession"
REFRESH_SESSION = "/xrpc/com.atproto.server.refreshSession"
CREATE_RECORD = "/xrpc/com.atproto.repo.createRecord"


def _account(emulator: RunningEmulator, password: str = "app-pass-1") -> AccountConfig:
    return AccountConfig(
        "acme-bsky",
        "bluesky",
        emulator.url,
        values={"identifier": "acme.bsky.social", "app_password": password},
    )


def test_a_post_becomes_a_record_with_its_bsky_app_url(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    post = variant_pb2.SocialVariant(
        text="Spring sale!",
        language="en",
        link_card=variant_pb2.LinkCard(
            url="https://acme.example/sale", title="Spring sale", description="20% off"
        ),
    )
    outcome = Bluesky(http_client).publish(_account(emulator), post, idempotency_key="k")

    [record] = emulator.posts("bluesky")
    rkey = record["id"].rsplit("/", 1)[-1]
    assert outcome.provider == "bluesky"
    assert outcome.provider_message_id == record["id"]
    assert record["id"].startswith("at://did:plc:")
    assert "/app.bsky.feed.post/" in record["id"]
    assert outcome.public_url == f"https://bsky.app/profile/acme.bsky.social/post/{rkey}"
    assert record["language"] == "en"
    assert record["embed"] == {
        "$type": "app.bsky.embed.external",
        "external": {
            "uri": "https://acme.example/sale",
            "title": "Spring sale",
            "description": "20% off",
        },
    }


def test_facets_keep_utf8_byte_offsets_with_emoji_and_non_latin_text(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    # "🌸" is 4 bytes, each of "春のセール" 3 bytes: string indices would be wrong.
    text = "🌸 春のセール #花見 https://acme.example/桜 ✨"
    encoded = text.encode("utf-8")
    link = "https://acme.example/桜"
    facets = [
        Facet(kind=Facet.KIND_TAG, byte_start=21, byte_end=28, value="花見"),
        Facet(kind=Facet.KIND_LINK, byte_start=29, byte_end=29 + len(link.encode()), value=link),
    ]
    assert encoded[21:28].decode() == "#花見"
    assert encoded[29:53].decode() == link
    post = variant_pb2.SocialVariant(text=text, facets=facets)

    Bluesky(http_client).publish(_account(emulator), post, idempotency_key="k")

    [record] = emulator.posts("bluesky")
    assert record["facets"] == [
        {
            "index": {"byteStart": 21, "byteEnd": 28},
            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "花見"}],
        },
        {
            "index": {"byteStart": 29, "byteEnd": 53},
            "features": [{"$type": "app.bsky.richtext.facet#link", "uri": link}],
        },
    ]


def test_facets_are_found_when_the_variant_has_none(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    text = "🌸 春のセール #花見 https://acme.example/桜 ✨"
    Bluesky(http_client).publish(
        _account(emulator), variant_pb2.SocialVariant(text=text), idempotency_key="k"
    )
    [record] = emulator.posts("bluesky")
    assert [f["index"] for f in record["facets"]] == [
        {"byteStart": 21, "byteEnd": 28},
        {"byteStart": 29, "byteEnd": 53},
    ]


def test_a_facet_splitting_a_character_is_refused_with_blueskys_message(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    # Byte 1 is inside the 4-byte emoji: the string index, not the byte offset.
    post = variant_pb2.SocialVariant(
        text="🌸 #sale",
        facets=[Facet(kind=Facet.KIND_TAG, byte_start=1, byte_end=6, value="sale")],
    )
    with pytest.raises(PermanentProviderError) as refused:
        Bluesky(http_client).publish(_account(emulator), post, idempotency_key="k")
    assert refused.value.code == "rejected_400"
    assert refused.value.message.startswith("InvalidRequest: Invalid app.bsky.feed.post record")
    assert "UTF-8 character boundaries" in refused.value.message
    assert emulator.posts() == []


def test_an_expired_access_token_is_refreshed_not_recreated(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    bluesky = Bluesky(http_client)
    post = variant_pb2.SocialVariant(text="first")
    bluesky.publish(_account(emulator), post, idempotency_key="k1")
    emulator.inject("bluesky", "expired_token")

    outcome = bluesky.publish(
        _account(emulator), variant_pb2.SocialVariant(text="second"), idempotency_key="k2"
    )

    assert [p["text"] for p in emulator.posts("bluesky")] == ["first", "second"]
    assert outcome.provider_message_id == emulator.posts("bluesky")[1]["id"]
    assert len(emulator.requests(CREATE_SESSION)) == 1
    assert [r["status"] for r in emulator.requests(REFRESH_SESSION)] == [200]
    assert [r["status"] for r in emulator.requests(CREATE_RECORD)] == [200, 400, 200]


@pytest.mark.parametrize("emulator_state", [EmulatorState(bluesky_access_ttl=0.0)])
def test_a_session_still_expired_after_refresh_fails_as_expired_credentials(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    # Access tokens die at once: createRecord -> ExpiredToken -> refresh -> still
    # expired -> the post fails as expired credentials, with one refresh only.
    with pytest.raises(PermanentProviderError) as refused:
        Bluesky(http_client).publish(
            _account(emulator), variant_pb2.SocialVariant(text="hi"), idempotency_key="k"
        )
    assert refused.value.code == "expired_credentials"
    assert len(emulator.requests(REFRESH_SESSION)) == 1


def test_a_revoked_app_password_fails_as_expired_credentials(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    with pytest.raises(PermanentProviderError) as refused:
        Bluesky(http_client).publish(
            _account(emulator, password="revoked-1"),
            variant_pb2.SocialVariant(text="hi"),
            idempotency_key="k",
        )
    assert refused.value.code == "expired_credentials"
    assert "Invalid identifier or password" in refused.value.message
    assert "revoked-1" not in refused.value.message


def test_missing_app_password_fails_as_missing_credentials(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    account = AccountConfig("acme-bsky", "bluesky", emulator.url, values={"identifier": "a"})
    with pytest.raises(PermanentProviderError) as refused:
        Bluesky(http_client).publish(
            account, variant_pb2.SocialVariant(text="hi"), idempotency_key="k"
        )
    assert refused.value.code == "missing_credentials"
    assert "app_password" in refused.value.message


def test_rate_limit_reset_header_gives_retry_after(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    emulator.inject("bluesky", "429", retry_after=300)
    with pytest.raises(TransientProviderError) as throttled:
        Bluesky(http_client).publish(
            _account(emulator), variant_pb2.SocialVariant(text="hi"), idempotency_key="k"
        )
    assert throttled.value.code == "rate_limited"
    assert throttled.value.retry_after is not None
    assert 290 <= throttled.value.retry_after <= 300


def test_content_error_fails_with_blueskys_message(
    emulator: RunningEmulator, http_client: httpx.Client
) -> None:
    emulator.inject("bluesky", "content_error")
    with pytest.raises(PermanentProviderError) as refused:
        Bluesky(http_client).publish(
            _account(emulator), variant_pb2.SocialVariant(text="hi"), idempotency_key="k"
        )
    assert refused.value.message == (
        "InvalidRequest: Invalid app.bsky.feed.post record: content refused"
    )


def test_a_retry_after_a_lost_answer_finds_the_post_instead_of_posting_again(
    emulator: RunningEmulator,
) -> None:
    # The AT Protocol has no idempotency key: the retry lists the account's posts first.
    settings = SocialSettings(
        social_sandbox_url=emulator.url,
        social_redis_url="",
        social_rate_limit=0,
        social_http_timeout=0.5,
    )
    deliver = bootstrap(settings)
    batch = bus_pb2.DispatchBatch(campaign_id="c-1", channel=campaign_pb2.CHANNEL_SOCIAL)
    batch.created_at.GetCurrentTime()
    item = batch.items.add(
        delivery_id="d-1",
        idempotency_key="c-1:acme",
        address="acme",
        social=variant_pb2.SocialVariant(
            network=campaign_pb2.SOCIAL_NETWORK_BLUESKY, text="Spring blend is here"
        ),
    )
    emulator.inject("bluesky", "late_answer", delay=1.5)
    with pytest.raises(TransientProviderError):
        deliver(batch, item)
    item.attempt = 1

    outcome = deliver(batch, item)

    [post] = emulator.posts("bluesky")
    assert outcome.provider_message_id == post["id"]
    assert [r["status"] for r in emulator.requests("/xrpc/com.atproto.repo.listRecords")] == [200]
