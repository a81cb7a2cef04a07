"""Fixtures of the orchestrator's integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from brandcast.orchestrator.store import Store


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A store on the test's database (SQLite or PostgreSQL, by ``database_url``)."""
    store = Store.open(database_url)
    try:
        yield store
    finally:
        store.close()
