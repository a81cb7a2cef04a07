"""Fixtures of the admin unit tests: an admin app served by uvicorn on loopback,
wired to an orchestrator address nothing listens on.

Login, CSRF and access rules are decided before any orchestrator call, so these
tests need no orchestrator; the pages that do call it show the 503 page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import httpx
import pytest
from argon2 import PasswordHasher

from brandcast.admin import AdminSettings, create_app
from brandcast.admin.threaded import serve_in_thread
from brandcast.admin.users import UserDirectory
from brandcast.shared.devstack import free_port

PASSWORD = "correct horse battery staple"
#: Hashes with the lowest argon2 cost, so a login takes milliseconds in tests; the
#: cost lives in the hash, so verification follows it.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
USERS = UserDirectory({"alice": CHEAP_HASHER.hash(PASSWORD)})


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match[1]


def log_in(client: httpx.Client, username: str = "alice", password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token."""
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_from(client.get("/campaigns/new").text)


@contextmanager
def admin_client(
    settings: AdminSettings, users: UserDirectory | None = USERS
) -> Iterator[httpx.Client]:
    """An HTTP client of the admin served by uvicorn on a free loopback port."""
    app = create_app(settings, users=users)
    with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=10) as client:
        yield client


@pytest.fixture
def settings() -> AdminSettings:
    return AdminSettings(
        orchestrator_address=f"127.0.0.1:{free_port()}",  # nothing listens there
        api_token="secret-api-token",
        secret_key="test-secret-key",
        orchestrator_timeout=2.0,
    )


@pytest.fixture
def client(settings: AdminSettings) -> Iterator[httpx.Client]:
    with admin_client(settings) as test_client:
        yield test_client


LogIn = Callable[..., str]


@pytest.fixture
def log_in_as() -> LogIn:
    """Log a client in through the form: ``log_in_as(client, user, password)``."""
    return log_in


@pytest.fixture
def csrf_of() -> Callable[[str], str]:
    """The CSRF token in a page's HTML."""
    return csrf_from


@pytest.fixture
def cheap_hasher() -> PasswordHasher:
    return CHEAP_HASHER


@pytest.fixture
def serve_admin() -> Callable[..., AbstractContextManager[httpx.Client]]:
    """``with serve_admin(settings, users) as client``: another admin app, served."""
    return admin_client


@pytest.fixture
def password() -> str:
    """The password of the configured user ``alice``."""
    return PASSWORD
