"""Fixtures of the SMS integration tests: the emulator on loopback and settings for it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from brandcast.sms.emulator import EmulatorConfig, EmulatorServer, start_emulator
from brandcast.sms.settings import SmsSettings
from tests.redis_keys import forget_sms_namespace


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(callback_delay=0.05, timeout_delay=1.5)


@pytest.fixture
def emulator(emulator_config: EmulatorConfig) -> Iterator[EmulatorServer]:
    server, _ = start_emulator(0, config=emulator_config)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_namespace() -> Iterator[str]:
    """Rate limits and prefix counters of one test, apart from every other test's."""
    namespace = f"sms-test-{uuid.uuid4().hex[:10]}"
    yield namespace
    forget_sms_namespace(namespace)


@pytest.fixture
def sms_settings(emulator: EmulatorServer, redis_namespace: str) -> Callable[..., SmsSettings]:
    def make(**overrides: Any) -> SmsSettings:
        values: dict[str, Any] = {
            "sms_twilio_base_url": emulator.url,
            "sms_vonage_base_url": emulator.url,
            "sms_redis_namespace": redis_namespace,
            "sms_rate_limit": 0,
            "sms_provider_timeout": 0.5,
            "sms_retry_base_delay": 0.1,
            "sms_retry_max_delay": 2.0,
        }
        values.update(overrides)
        return SmsSettings(**values)

    return make


def _wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    """``wait_for(condition, timeout, what)``: poll until truthy, fail after the timeout."""
    return _wait_for
