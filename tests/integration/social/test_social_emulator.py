"""The emulator itself: fault control, auth and header checks like the networks."""

from __future__ import annotations

import httpx
import pytest

from brandcast.social.emulator import RunningEmulator


@pytest.mark.parametrize(
    ("fault", "named"),
    [
        ({"network": "myspace", "kind": "429"}, "network"),
        ({"network": "x", "kind": "explode"}, "kind"),
        ({"network": "x", "kind": "429", "count": 0}, "count"),
    ],
)
def test_a_bad_fault_is_refused_naming_the_field(
    emulator: RunningEmulator, fault: dict[str, object], named: str
) -> None:
    answer = httpx.post(f"{emulator.url}/_emulator/faults", json=fault, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(f"{named}:")


def test_mastodon_needs_a_token(emulator: RunningEmulator) -> None:
    answer = httpx.post(f"{emulator.url}/api/v1/statuses", json={"status": "hi"}, timeout=5)
    assert answer.status_code == 401
    assert answer.json() == {"error": "The access token is invalid"}
    assert "X-RateLimit-Reset" in answer.headers


def test_mastodon_accepts_form_encoded_statuses(emulator: RunningEmulator) -> None:
    answer = httpx.post(
        f"{emulator.url}/api/v1/statuses",
        data={"status": "hi there", "visibility": "private"},
        headers={"Authorization": "Bearer sandbox-acme"},
        timeout=5,
    )
    assert answer.status_code == 200
    assert answer.json()["visibility"] == "private"
    assert [p["text"] for p in emulator.posts()] == ["hi there"]


def test_linkedin_needs_its_version_header(emulator: RunningEmulator) -> None:
    answer = httpx.post(
        f"{emulator.url}/rest/posts",
        json={},
        headers={"Authorization": "Bearer sandbox-acme", "X-Restli-Protocol-Version": "2.0.0"},
        timeout=5,
    )
    assert answer.status_code == 400
    assert "LinkedIn-Version" in answer.json()["message"]


def test_a_bluesky_refresh_token_works_once(emulator: RunningEmulator) -> None:
    session = httpx.post(
        f"{emulator.url}/xrpc/com.atproto.server.createSession",
        json={"identifier": "acme.bsky.social", "password": "app-pass"},
        timeout=5,
    ).json()
    refresh = f"{emulator.url}/xrpc/com.atproto.server.refreshSession"
    headers = {"Authorization": f"Bearer {session['refreshJwt']}"}
    first = httpx.post(refresh, headers=headers, timeout=5)
    again = httpx.post(refresh, headers=headers, timeout=5)
    assert first.status_code == 200
    assert first.json()["did"] == session["did"]
    assert first.json()["accessJwt"] != session["accessJwt"]
    assert (again.status_code, again.json()["error"]) == (400, "ExpiredToken")
