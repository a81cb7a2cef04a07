"""Fixtures of the client tests: the repository root on ``sys.path`` (for
``tests.integration.client.harness`` and ``tests.faults``) and a served orchestrator."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.integration.client.harness import Served, serve  # noqa: E402


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve(tmp_path) as running:
        yield running
