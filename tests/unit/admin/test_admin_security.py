"""Login, sessions, CSRF and what anonymous visitors can reach."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from brandcast.admin import AdminSettings
from brandcast.admin.app import create_app
from brandcast.admin.security import USER_SESSION_KEY
from brandcast.admin.users import UsersConfigError


def test_login_with_the_right_password_opens_a_session(
    client: httpx.Client, log_in_as: Any
) -> None:
    log_in_as(client)
    page = client.get("/campaigns/new")
    assert page.status_code == 200
    assert "New campaign" in page.text
    assert "alice" in page.text


def test_login_with_a_wrong_password_fails(
    client: httpx.Client, csrf_of: Any, password: Any
) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": "alice", "password": "wrong", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert "Wrong user name or password" in response.text
    assert client.get("/campaigns/new", follow_redirects=False).status_code == 303


def test_login_with_an_unknown_user_fails(
    client: httpx.Client, csrf_of: Any, password: Any
) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login", data={"username": "mallory", "password": password, "csrf_token": token}
    )
    assert response.status_code == 401


def test_the_session_cookie_is_httponly_and_samesite_lax(client: httpx.Client) -> None:
    cookie = client.get("/login").headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie


def test_the_session_cookie_is_secure_when_configured(
    settings: AdminSettings, serve_admin: Any
) -> None:
    secure = settings.model_copy(update={"cookie_https_only": True})
    with serve_admin(secure) as c:
        assert "secure" in c.get("/login").headers["set-cookie"].lower()


@pytest.mark.parametrize("path", ["/", "/campaigns/new", "/campaigns/abc", "/suppressions"])
def test_pages_redirect_anonymous_visitors_to_login(client: httpx.Client, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/campaigns/abc/events"),
        ("POST", "/api/preview"),
        ("POST", "/api/audience"),
    ],
)
def test_api_refuses_anonymous_callers_with_401(
    client: httpx.Client, method: str, path: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == 401
    assert response.json() == {"error": "log in first"}


def test_anonymous_post_to_a_page_does_not_reach_it(client: httpx.Client) -> None:
    response = client.post(
        "/suppressions", data={"address": "x@example.com"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_login_page_health_and_static_files_are_public(client: httpx.Client) -> None:
    assert client.get("/login").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/static/admin.js").status_code == 200


def test_login_redirects_back_but_never_off_site(
    client: httpx.Client, csrf_of: Any, password: Any
) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={
            "username": "alice",
            "password": password,
            "csrf_token": token,
            "next": "//evil.example/phish",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_post_without_csrf_token_is_refused(client: httpx.Client, log_in_as: Any) -> None:
    log_in_as(client)
    response = client.post("/suppressions", data={"channel": "email", "address": "a@example.com"})
    assert response.status_code == 403


def test_post_with_a_wrong_csrf_token_is_refused(client: httpx.Client, log_in_as: Any) -> None:
    log_in_as(client)
    response = client.post(
        "/suppressions",
        data={"channel": "email", "address": "a@example.com", "csrf_token": "forged"},
    )
    assert response.status_code == 403
    fetch = client.post("/api/preview", data={}, headers={"X-CSRF-Token": "forged"})
    assert fetch.status_code == 403


def test_cross_site_post_is_refused_even_with_the_token(
    client: httpx.Client, log_in_as: Any
) -> None:
    token = log_in_as(client)
    from_elsewhere = client.post(
        "/campaigns/abc/cancel",
        data={"csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert from_elsewhere.status_code == 403
    fetch_metadata = client.post(
        "/campaigns/abc/cancel",
        data={"csrf_token": token},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert fetch_metadata.status_code == 403


def test_same_origin_post_with_the_token_gets_through(client: httpx.Client, log_in_as: Any) -> None:
    token = log_in_as(client)
    # It reaches the view, which then finds the orchestrator unreachable.
    response = client.post(
        "/campaigns/abc/cancel",
        data={"csrf_token": token},
        headers={"Origin": str(client.base_url).rstrip("/")},
    )
    assert response.status_code == 503


def test_login_form_needs_the_csrf_token_too(client: httpx.Client, password: Any) -> None:
    client.get("/login")
    response = client.post("/login", data={"username": "alice", "password": password})
    assert response.status_code == 403


def test_logout_ends_the_session(client: httpx.Client, log_in_as: Any) -> None:
    token = log_in_as(client)
    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def test_logging_in_replaces_the_anonymous_csrf_token(
    client: httpx.Client, log_in_as: Any, csrf_of: Any
) -> None:
    before = csrf_of(client.get("/login").text)
    after = log_in_as(client)
    assert before != after


def test_unreachable_orchestrator_gives_a_clear_503_page(
    client: httpx.Client, settings: AdminSettings, log_in_as: Any
) -> None:
    log_in_as(client)
    response = client.get("/")
    assert response.status_code == 503
    assert "The orchestrator is unreachable" in response.text
    assert settings.orchestrator_address in response.text
    assert settings.api_token not in response.text


def test_unreachable_orchestrator_gives_json_503_to_fetch(
    client: httpx.Client, log_in_as: Any
) -> None:
    token = log_in_as(client)
    response = client.post(
        "/api/preview",
        data={"brand_kit": "acme-coffee", "headline": "Hi", "body": "There", "email_enabled": "on"},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 503
    assert "unreachable" in response.json()["error"]


def test_demo_user_gets_a_random_password_when_no_users_are_configured(
    settings: AdminSettings,
    caplog: pytest.LogCaptureFixture,
    log_in_as: Any,
    serve_admin: Any,
) -> None:
    with (
        caplog.at_level("WARNING"),
        serve_admin(settings.model_copy(update={"users": ""}), None) as c,
    ):
        message = next(r.getMessage() for r in caplog.records if "ADMIN_USERS" in r.getMessage())
        # Not a terminal here: the password is in a file only this user reads, never logged.
        secret = Path(message.split("password in ")[1].split(" ")[0])
        assert secret.stat().st_mode & 0o777 == 0o600
        demo_password = secret.read_text().strip()
        assert all(demo_password not in r.getMessage() for r in caplog.records)
        log_in_as(c, "demo", demo_password)
        assert c.get("/campaigns/new").status_code == 200


def test_without_users_and_without_the_demo_user_the_admin_refuses_to_start(
    settings: AdminSettings,
) -> None:
    production = settings.model_copy(update={"users": "", "demo_user": False})
    with pytest.raises(UsersConfigError, match="ADMIN_USERS is empty"):
        create_app(production)


def test_configured_users_come_from_admin_users(
    settings: AdminSettings, log_in_as: Any, serve_admin: Any, cheap_hasher: Any
) -> None:
    spec = f"bob:{cheap_hasher.hash('pw-of-bob')}"
    with serve_admin(settings.model_copy(update={"users": spec}), None) as c:
        log_in_as(c, "bob", "pw-of-bob")
        assert c.get("/campaigns/new").status_code == 200
    assert USER_SESSION_KEY == "user"
