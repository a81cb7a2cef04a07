"""A social network emulator per test, on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from brandcast.social.emulator import EmulatorState, RunningEmulator, start_emulator


@pytest.fixture
def emulator_state() -> EmulatorState:
    return EmulatorState()


@pytest.fixture
def emulator(emulator_state: EmulatorState) -> Iterator[RunningEmulator]:
    running, _ = start_emulator(port=0, state=emulator_state)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def http_client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2.0) as client:
        yield client
