"""The official SDKs against our emulators: a sandbox an SDK cannot use is not faithful,
and one that takes what the real service refuses hides bugs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import tweepy
from mastodon import Mastodon
from postmarker.core import PostmarkClient
from postmarker.exceptions import ClientError
from vonage import Auth, Vonage
from vonage_messages import Sms

from brandcast.email.sandbox.postmark_emulator import PostmarkEmulator
from brandcast.shared.http_thread import serve_in_thread
from brandcast.sms.emulator import start_emulator as start_sms_emulator
from brandcast.social.emulator import RunningEmulator, start_emulator
from tests.oracles.recorder import redirect


@pytest.fixture
def social() -> Iterator[RunningEmulator]:
    running, _ = start_emulator(port=0)
    try:
        yield running
    finally:
        running.stop()


def test_tweepy_posts_and_is_refused_what_x_refuses(social: RunningEmulator) -> None:
    client = tweepy.Client(bearer_token="sandbox-acme")
    redirect(client.session, social.url)
    link = "https://acme.coffee/" + "spring/" * 40
    created = client.create_tweet(text=f"Spring blend {link}", user_auth=False)
    assert created.data["id"] == social.posts("x")[0]["id"]
    with pytest.raises(tweepy.errors.Forbidden, match="too long"):
        client.create_tweet(text="咖" * 141, user_auth=False)  # weighs 282


def test_mastodon_py_posts_once_per_idempotency_key(social: RunningEmulator) -> None:
    client = Mastodon(
        access_token="sandbox-acme", api_base_url=social.url, version_check_mode="none"
    )
    first = client.status_post("Spring blend", idempotency_key="k-1")
    again = client.status_post("Spring blend", idempotency_key="k-1")
    assert first["id"] == again["id"]
    assert len(social.posts("mastodon")) == 1


def test_postmarker_sends_to_a_broadcast_stream_and_not_to_an_unknown_one() -> None:
    emulator = PostmarkEmulator("server-token")
    with serve_in_thread(emulator.app) as running:
        client = PostmarkClient(server_token="server-token", root_api_url=running.url)
        answer = client.emails.send(
            From="news@acme.example",
            To="reader@example.org",
            Subject="Spring",
            TextBody="hello",
            MessageStream="broadcast",
        )
        with pytest.raises(ClientError, match="not found"):
            client.emails.send(
                From="news@acme.example",
                To="reader@example.org",
                Subject="Spring",
                TextBody="hello",
                MessageStream="marketing-typo",
            )
    assert answer["ErrorCode"] == 0
    assert len(emulator.sent) == 1


def test_the_vonage_sdk_sends_through_our_emulator() -> None:
    server, _ = start_sms_emulator(0)
    try:
        client = Vonage(Auth(api_key="sandbox-key", api_secret="sandbox-secret"))
        redirect(client.http_client._session, server.url)
        sent = client.messages.send(
            Sms(to="447400123456", from_="447400000000", text="Spring", client_ref="k-1")
        )
        [message] = server.messages()
    finally:
        server.stop()
    assert message["sid"] == sent.message_uuid
    assert (message["provider"], message["to"]) == ("vonage", "+447400123456")
