"""The admin against the real orchestrator (gRPC server on port 0, SQLite store),
without a broker: deliveries stay pending, which is all the pages need here."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

from brandcast.admin import AdminSettings, create_app
from brandcast.admin.threaded import serve_in_thread
from brandcast.admin.users import UserDirectory
from brandcast.orchestrator.server import bootstrap, create_server
from brandcast.orchestrator.settings import OrchestratorSettings

API_TOKEN = "integration-token"
USERS = UserDirectory(
    {"alice": PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("pw")}
)


@pytest.fixture
def orchestrator_port(tmp_path: Path) -> Iterator[int]:
    settings = OrchestratorSettings(
        database_url=f"sqlite:///{tmp_path / 'orchestrator.db'}",
        grpc_address="127.0.0.1:0",
        api_tokens=API_TOKEN,
    )
    orchestrator = bootstrap(settings, dispatch=False, collect=False)
    server, port = create_server(settings, orchestrator)
    server.start()
    orchestrator.start()
    try:
        yield port
    finally:
        orchestrator.events.close()
        server.stop(0).wait()
        orchestrator.stop(2)


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match[1]


@pytest.fixture
def csrf_of() -> Callable[[str], str]:
    return _csrf


@pytest.fixture
def serve_admin(
    orchestrator_port: int,
) -> Callable[..., AbstractContextManager[httpx.Client]]:
    """``with serve_admin(api_token=...) as client``: a logged-in client of a served admin."""

    @contextmanager
    def serve(api_token: str = API_TOKEN) -> Iterator[httpx.Client]:
        settings = AdminSettings(
            orchestrator_address=f"127.0.0.1:{orchestrator_port}",
            api_token=api_token,
            secret_key="integration-secret",
        )
        with (
            serve_in_thread(create_app(settings, users=USERS)) as url,
            httpx.Client(base_url=url, timeout=15, follow_redirects=True) as client,
        ):
            token = _csrf(client.get("/login").text)
            client.post("/login", data={"username": "alice", "password": "pw", "csrf_token": token})
            yield client

    return serve


@pytest.fixture
def admin(
    serve_admin: Callable[..., AbstractContextManager[httpx.Client]],
) -> Iterator[httpx.Client]:
    with serve_admin() as client:
        yield client
