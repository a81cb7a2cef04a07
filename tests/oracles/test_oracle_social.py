"""The social networks' official SDKs against our network classes, on one recorder.

Mastodon.py, atproto (MarshalX's AT Protocol SDK), tweepy (X) and LinkedIn's
``linkedin-api-client``: the same post through the SDK and through our class,
then method, path, the headers that carry meaning, and the body compared.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import tweepy
from atproto import Client as AtprotoClient
from linkedin_api.clients.restli.client import RestliClient
from mastodon import Mastodon as MastodonSdk
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from brandcast.social.accounts import AccountConfig
from brandcast.social.emulator._state import EmulatorState
from brandcast.social.linkedin_versions import DEFAULT_VERSION
from brandcast.social.networks import Bluesky, LinkedIn, Mastodon, X
from brandcast.social.networks.linkedin import little_text
from brandcast.v1 import variant_pb2
from tests.oracles.recorder import recording, redirect

TEXT = "Spring blend is here: https://acme.example/spring #coffee"


def _json(body: Any, status: int = 200, **headers: str) -> Any:
    def answer(request: Request) -> Response:
        return JSONResponse(body, status_code=status, headers=headers)

    return answer


def test_mastodon_status_is_what_mastodon_py_posts() -> None:
    answers = {
        ("GET", "/api/v2/instance"): _json(
            {
                "configuration": {
                    "statuses": {"max_characters": 500, "characters_reserved_per_url": 23}
                }
            }
        ),
        ("POST", "/api/v1/statuses"): _json({"id": "1", "url": "https://m.example/@acme/1"}),
    }
    with recording(answers) as (recorder, url):
        sdk = MastodonSdk(access_token="token", api_base_url=url, version_check_mode="none")
        sdk.status_post(TEXT, visibility="public", language="en", idempotency_key="k-1")
        account = AccountConfig("acme", "mastodon", url, values={"access_token": "token"})
        post = variant_pb2.SocialVariant(text=TEXT, visibility="public", language="en")
        with httpx.Client() as client:
            Mastodon(client).publish(account, post, idempotency_key="k-1")
        sdk_post, *_, ours = [r for r in recorder.take() if r.path == "/api/v1/statuses"]

    assert (ours.method, ours.path) == (sdk_post.method, sdk_post.path)
    # Mastodon takes a form or JSON alike: the fields must be the same.
    sdk_fields = {k: v[0] for k, v in sdk_post.form().items()}
    assert sdk_fields.pop("sensitive") == "0"  # Mastodon's default, which we leave implicit
    assert ours.json() == sdk_fields
    for header in ("authorization", "idempotency-key"):
        assert ours.headers[header] == sdk_post.headers[header]


def _session(request: Request) -> Response:
    state = EmulatorState()  # JWT-shaped tokens, as a PDS issues them
    session = state.new_bluesky_session("acme.bsky.social")
    return JSONResponse(
        {
            "did": session.did,
            "handle": session.handle,
            "accessJwt": session.access_jwt,
            "refreshJwt": session.refresh_jwt,
            "active": True,
        }
    )


DID = EmulatorState().new_bluesky_session("acme.bsky.social").did


def test_a_bluesky_post_is_what_the_atproto_sdk_creates() -> None:
    answers = {
        ("POST", "/xrpc/com.atproto.server.createSession"): _session,
        ("GET", "/xrpc/app.bsky.actor.getProfile"): _json(
            {"did": DID, "handle": "acme.bsky.social"}
        ),
        ("POST", "/xrpc/com.atproto.repo.createRecord"): _json(
            {"uri": "at://did:plc:acme/app.bsky.feed.post/3k", "cid": "bafyreia"}
        ),
    }
    with recording(answers) as (recorder, url):
        sdk = AtprotoClient(base_url=f"{url}/xrpc")
        sdk.login("acme.bsky.social", "app-password")
        sdk.send_post(TEXT, langs=["en"])
        account = AccountConfig(
            "acme", "bluesky", url,
            values={"identifier": "acme.bsky.social", "app_password": "app-password"},
        )  # fmt: skip
        with httpx.Client() as client:
            Bluesky(client).publish(
                account, variant_pb2.SocialVariant(text=TEXT, language="en"), idempotency_key="k"
            )
        taken = recorder.take()
    sessions = [r for r in taken if r.path.endswith("createSession")]
    sdk_record, ours = [r for r in taken if r.path.endswith("createRecord")]

    assert sessions[0].json() == sessions[1].json()
    sdk_body, our_body = sdk_record.json(), ours.json()
    assert (our_body["repo"], our_body["collection"]) == (sdk_body["repo"], sdk_body["collection"])
    record, expected = our_body["record"], sdk_body["record"]
    assert {k: record[k] for k in ("$type", "text", "langs")} == {
        k: expected[k] for k in ("$type", "text", "langs")
    }
    # The SDK's send_post finds no facets in plain text; the facets we add are the
    # ones its RichText detection finds (tests/unit/shared/test_text_counting_references).
    link, tag = record["facets"]
    start = TEXT.index("https")
    assert link["index"] == {"byteStart": start, "byteEnd": start + 27}
    assert link["features"] == [
        {"$type": "app.bsky.richtext.facet#link", "uri": "https://acme.example/spring"}
    ]
    assert tag["features"] == [{"$type": "app.bsky.richtext.facet#tag", "tag": "coffee"}]
    assert ours.headers["authorization"].startswith("Bearer ")


def test_a_tweet_is_what_tweepy_creates() -> None:
    answers = {("POST", "/2/tweets"): _json({"data": {"id": "1", "text": TEXT}}, status=201)}
    with recording(answers) as (recorder, url):
        sdk = tweepy.Client(bearer_token="user-access-token")
        redirect(sdk.session, url)
        sdk.create_tweet(text=TEXT, user_auth=False)
        account = AccountConfig("acme", "x", url, values={"access_token": "user-access-token"})
        with httpx.Client() as client:
            X(client).publish(account, variant_pb2.SocialVariant(text=TEXT), idempotency_key="k")
        sdk_request, ours = recorder.take()

    assert (
        (ours.method, ours.path) == (sdk_request.method, sdk_request.path) == ("POST", "/2/tweets")
    )
    assert ours.json() == sdk_request.json()
    assert ours.headers["authorization"] == sdk_request.headers["authorization"]
    assert ours.headers["content-type"] == sdk_request.headers["content-type"]


def test_a_linkedin_post_is_what_linkedins_client_creates() -> None:
    answers = {
        ("POST", "/rest/posts"): lambda request: Response(
            status_code=201, headers={"x-restli-id": "urn:li:share:1"}
        )
    }
    post = variant_pb2.SocialVariant(text=TEXT)
    with recording(answers) as (recorder, url):
        account = AccountConfig(
            "acme", "linkedin", url,
            values={"access_token": "li-token", "organization_id": "2414183"},
        )  # fmt: skip
        with httpx.Client() as client:
            LinkedIn(client).publish(account, post, idempotency_key="k")
        [ours] = recorder.take()
        sdk = RestliClient()
        redirect(sdk.session, url)
        sdk.create(
            resource_path="/posts",
            entity=json.loads(ours.body),
            version_string=DEFAULT_VERSION,
            access_token="li-token",
        )
        [sdk_request] = recorder.take()

    assert (ours.method, ours.path) == (sdk_request.method, sdk_request.path)
    assert ours.json() == sdk_request.json()
    assert ours.json()["commentary"] == little_text(TEXT)
    for header in ("authorization", "linkedin-version", "x-restli-protocol-version"):
        assert ours.headers[header] == sdk_request.headers[header], header
