"""The networks' official SDKs against our emulator: if the SDK cannot use it, it is not faithful.

Dev-only dependencies (the root ``dev`` group): ``atproto`` (MarshalX's AT Protocol SDK).
"""

from __future__ import annotations

from atproto import Client, client_utils
from atproto_server.auth.jwt import get_jwt_payload

from brandcast.social.emulator import RunningEmulator


def test_the_atproto_client_logs_in_and_posts_with_a_link(emulator: RunningEmulator) -> None:
    client = Client(base_url=f"{emulator.url}/xrpc")

    profile = client.login("acme.bsky.social", "app-password")

    assert profile is not None
    assert profile.handle == "acme.bsky.social"
    # The tokens are JWT-shaped, as a PDS's: the SDK reads their expiry to refresh in time.
    session = client._session
    assert session is not None
    assert get_jwt_payload(session.access_jwt).scope == "com.atproto.appPass"
    assert get_jwt_payload(session.refresh_jwt).scope == "com.atproto.refresh"
    text = (
        client_utils.TextBuilder()
        .text("Spring blend: ")
        .link("acme.example/spring", "https://acme.example/spring")
    )
    created = client.send_post(text)

    [post] = emulator.posts("bluesky")
    assert created.uri == post["id"]
    assert post["text"] == "Spring blend: acme.example/spring"
    [facet] = post["facets"]
    assert (facet["index"]["byteStart"], facet["index"]["byteEnd"]) == (14, 33)
    assert facet["features"][0]["uri"] == "https://acme.example/spring"


def test_the_atproto_client_refreshes_a_session_about_to_expire(
    emulator: RunningEmulator,
) -> None:
    # The SDK renews a token 15 minutes before its exp: a 10-minute one at once.
    emulator.state.bluesky_access_ttl = 600
    client = Client(base_url=f"{emulator.url}/xrpc")
    client.login("acme.bsky.social", "app-password")
    emulator.state.bluesky_access_ttl = 7200

    client.send_post("Hello from the official client")

    refreshes = emulator.requests("/xrpc/com.atproto.server.refreshSession")
    assert refreshes
    assert {r["status"] for r in refreshes} == {200}
    assert [p["text"] for p in emulator.posts("bluesky")] == ["Hello from the official client"]
