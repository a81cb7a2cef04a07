"""What an outside prober broke in the admin (issue #19 items 5, 6, 9): login
throttling, server-side logout, security headers and Secure cookies over TLS."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from brandcast.admin import AdminSettings, create_app
from brandcast.admin.app import SESSION_COOKIE
from brandcast.admin.login_throttle import FREE_FAILURES, LoginThrottle
from brandcast.admin.threaded import serve_in_thread
from tests.unit.admin.conftest import USERS, csrf_from


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def served(settings: AdminSettings, clock: Clock) -> Iterator[str]:
    app = create_app(settings, users=USERS)
    app.state.admin.login_throttle = LoginThrottle(clock=clock)
    with serve_in_thread(app) as base_url:
        yield base_url


def attempt(client: httpx.Client, username: str, password: str) -> httpx.Response:
    token = csrf_from(client.get("/login").text)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )


def test_wrong_passwords_lock_the_account_with_an_increasing_delay(
    served: str, clock: Clock, password: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="brandcast.admin.login_throttle")
    with httpx.Client(base_url=served, timeout=10) as client:
        codes = []
        delays = []
        for _ in range(30):
            response = attempt(client, "alice", "wrong")
            codes.append(response.status_code)
            if response.status_code == 429:
                delays.append(int(response.headers["Retry-After"]))
                clock.now += int(response.headers["Retry-After"])  # wait it out, then fail again
        # The first failures are free; then every attempt waits longer than the one before.
        assert codes[:FREE_FAILURES] == [401] * FREE_FAILURES
        assert 429 in codes
        assert delays == sorted(delays)
        assert delays[-1] > delays[0]
        # The right password right after is refused too, unchecked, until the delay passed.
        refused = attempt(client, "alice", password)
        assert refused.status_code == 429
        assert "Too many failed logins" in refused.text
        clock.now += int(refused.headers["Retry-After"])
        assert attempt(client, "alice", password).status_code == 303
    assert any("login throttled" in r.getMessage() for r in caplog.records)


def test_one_address_guessing_many_accounts_is_throttled_too(served: str) -> None:
    with httpx.Client(base_url=served, timeout=10) as client:
        codes = [attempt(client, f"user{n}", "guess").status_code for n in range(FREE_FAILURES + 2)]
    assert codes[:FREE_FAILURES] == [401] * FREE_FAILURES
    assert codes[-1] == 429


def test_a_cookie_copied_before_logout_is_worthless_after_it(
    client: httpx.Client, log_in_as: Any
) -> None:
    csrf = log_in_as(client)
    copied = client.cookies[SESSION_COOKIE]
    assert client.get("/campaigns/new", follow_redirects=False).status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf}).status_code in (200, 303)
    with httpx.Client(base_url=str(client.base_url), timeout=10) as thief:
        thief.cookies.set(SESSION_COOKIE, copied)
        page = thief.get("/campaigns/new", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"].startswith("/login")
        assert thief.get("/api/campaigns/x/events").status_code == 401


@pytest.mark.parametrize("path", ["/login", "/", "/static/admin.css", "/no-such-page", "/healthz"])
def test_every_response_carries_the_security_headers(
    client: httpx.Client, log_in_as: Any, path: str
) -> None:
    log_in_as(client)
    response = client.get(path, follow_redirects=False)
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "object-src 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in response.headers


def test_cookies_are_secure_when_served_over_tls(client: httpx.Client) -> None:
    """Behind a TLS proxy (X-Forwarded-Proto from a trusted proxy sets the scheme)."""
    response = client.get("/login", headers={"x-forwarded-proto": "https"})
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith(SESSION_COOKIE)
    assert "; secure" in cookie
    assert "httponly" in cookie
    assert response.headers["strict-transport-security"].startswith("max-age=")
    client.cookies.clear()
    plain = client.get("/login")
    assert plain.headers["set-cookie"].startswith(SESSION_COOKIE)
    assert "secure" not in plain.headers["set-cookie"].lower()
