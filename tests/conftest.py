"""Fixtures every test folder shares: isolated RabbitMQ vhosts and databases.

The machine's RabbitMQ and PostgreSQL are shared by every test run and by CI, so
each test gets its own throwaway vhost or database and removes it afterwards.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

# The repository root on sys.path, so tests import helpers as ``tests.<module>``.
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from brandcast.shared.devstack import PORT_SLICE_ENV
from tests.redis_keys import own_keys
from tests.throwaway_redis import ThrowawayRedis

RABBITMQ_HOST = os.environ.get("TEST_RABBITMQ_HOST", "127.0.0.1:5672")
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


RABBITMQ_API = os.environ.get("TEST_RABBITMQ_API", "http://127.0.0.1:15672/api")


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """With ``-p no:xdist`` (one process, for a debugger), still accept the
    ``--numprocesses`` and ``--dist`` that pyproject's addopts pass, and ignore them."""
    if not pluginmanager.has_plugin("xdist"):
        group = parser.getgroup("xdist", "pytest-xdist is disabled (-p no:xdist)")
        group.addoption("--numprocesses", dest="numprocesses", default=None)
        group.addoption("--dist", dest="dist", default="no")


def pytest_configure(config: pytest.Config) -> None:
    """Give this process a slice of free ports no other pytest-xdist worker uses.

    Many tests take a free port, release it and start a server on it moments (a
    whole stack: seconds) later; a port the kernel hands out for port 0 could be
    handed to another worker's server meanwhile. ``free_port`` then takes ports
    below the kernel's range, each worker (and the processes it starts, which
    inherit the variable) from its own slice. A run without xdist is worker 0 of 1.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")
    os.environ[PORT_SLICE_ENV] = f"{worker.removeprefix('gw')}/{count}"


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


@contextmanager
def _postgres_turn(folder: Path, *, alone: bool) -> Iterator[None]:
    """A test's turn on the machine's PostgreSQL among the run's pytest-xdist workers.

    Tests share it (a shared lock), except those marked ``postgres_alone``, which
    measure what PostgreSQL does with their rows: pruning old row versions, which
    HOT updates need, waits for the oldest snapshot of any database's open
    transaction, so other workers' tests would change the figure. Such a test
    closes the gate to new PostgreSQL tests, then waits for the running ones
    to end (an exclusive lock); a shared taker passes the gate only on its way in.
    """
    with (
        (folder / "postgres-gate.lock").open("a") as gate,
        (folder / "postgres-turns.lock").open("a") as turns,
    ):
        if alone:
            fcntl.flock(gate, fcntl.LOCK_EX)
            fcntl.flock(turns, fcntl.LOCK_EX)
        else:
            fcntl.flock(gate, fcntl.LOCK_SH)
            fcntl.flock(turns, fcntl.LOCK_SH)
            fcntl.flock(gate, fcntl.LOCK_UN)
        yield  # closing the files releases the locks


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
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database for one test: every store test runs on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'brandcast.db'}"
    elif "PYTEST_XDIST_WORKER" not in os.environ:
        yield from _postgres_database()
    else:
        # The workers' base folders share the run's folder: the locks live there.
        run_folder = tmp_path_factory.getbasetemp().parent
        alone = request.node.get_closest_marker("postgres_alone") is not None
        with _postgres_turn(run_folder, alone=alone):
            yield from _postgres_database()


@pytest.fixture
def throwaway_redis(tmp_path: Path) -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_redis_keys() -> Iterator[dict[str, str]]:
    """Environment for a stack whose SMS and social keys in the shared Redis are its own."""
    with own_keys("stack") as env:
        yield env
