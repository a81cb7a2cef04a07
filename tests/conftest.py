"""Fixtures every test folder shares: isolated RabbitMQ vhosts and databases.

The machine's RabbitMQ and PostgreSQL are shared by every test run and by CI, so
each test gets its own throwaway vhost or database and removes it afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# The repository root on sys.path, so tests import helpers as ``tests.<module>``.
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.throwaway_redis import ThrowawayRedis

RABBITMQ_HOST = os.environ.get("TEST_RABBITMQ_HOST", "127.0.0.1:5672")
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


RABBITMQ_API = os.environ.get("TEST_RABBITMQ_API", "http://127.0.0.1:15672/api")


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def _management_api() -> httpx.Client | None:
    """The management plugin's HTTP API when it is enabled: ~100x faster than rabbitmqctl."""
    client = httpx.Client(base_url=RABBITMQ_API, auth=("guest", "guest"), timeout=30)
    try:
        client.get("/overview").raise_for_status()
    except httpx.HTTPError:
        client.close()
        return None
    return client


@pytest.fixture(scope="session")
def rabbitmq_api() -> Iterator[httpx.Client | None]:
    client = _management_api()
    yield client
    if client is not None:
        client.close()


@pytest.fixture
def broker_url(rabbitmq_api: httpx.Client | None) -> Iterator[str]:
    """A fresh RabbitMQ vhost for one test, deleted afterwards."""
    vhost = f"brandcast-test-{uuid.uuid4().hex[:12]}"
    if rabbitmq_api is not None:
        rabbitmq_api.put(f"/vhosts/{vhost}").raise_for_status()
        rabbitmq_api.put(
            f"/permissions/{vhost}/guest", json={"configure": ".*", "write": ".*", "read": ".*"}
        ).raise_for_status()
    else:
        _rabbitmqctl("add_vhost", vhost)
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@{RABBITMQ_HOST}/{vhost}"
    finally:
        if rabbitmq_api is not None:
            rabbitmq_api.delete(f"/vhosts/{vhost}").raise_for_status()
        else:
            _rabbitmqctl("delete_vhost", vhost)


def _postgres_database() -> Iterator[str]:
    import psycopg

    name = f"brandcast_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace(
            "postgresql://", "postgresql+psycopg://"
        )
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database for one test: every store test runs on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'brandcast.db'}"
    else:
        yield from _postgres_database()


@pytest.fixture
def throwaway_redis(tmp_path: Path) -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis(tmp_path)
    try:
        yield server
    finally:
        server.stop()
