"""The whole stack for browser tests, every service as its own process, started
by ``examples/local_stack.py`` as ``make demo`` does: the orchestrator (gRPC,
SQLite store, dispatcher and receipt collector) on a fresh RabbitMQ vhost, the
email, SMS and social Celery workers and webhook servers, their loopback
sandbox providers (the SMTP sink, refusing one address with 550, the SMS API
emulator and the social networks emulator) and the admin (``brandcast-admin
serve``); Chromium from Debian driven by Playwright.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from brandcast.email.sandbox.smtp_sink import reply_for

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
from local_stack import LocalStack, start_local_stack  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-output"
API_TOKEN = "browser-test-token"
#: The SMTP sink refuses this address for good, as a mailbox provider would.
FAILING_EMAIL = "gone@example.com"
FAILURE_CODE = 550
#: What the SMTP sink answers after the code, which the email adapter records as the reason.
FAILURE_REASON = reply_for(FAILURE_CODE).split(" ", 1)[1]


@dataclass(frozen=True)
class Stack:
    admin_url: str
    login: tuple[str, str]
    local: LocalStack


@pytest.fixture
def stack(broker_url: str, tmp_path: Path, own_redis_keys: dict[str, str]) -> Iterator[Stack]:
    local = start_local_stack(
        tmp_path / "stack",
        broker_url=broker_url,
        database_url=f"sqlite:///{tmp_path / 'orchestrator.db'}",
        with_admin=True,
        smtp_failures={FAILING_EMAIL: FAILURE_CODE},
        # Delivery reports lag by seconds, so the live page can be seen waiting for them.
        sms_report_delay=2.0,
        extra_env={
            "API_TOKENS": API_TOKEN,
            "ADMIN_API_TOKEN": API_TOKEN,
            "DISPATCH_POLL_INTERVAL": "0.1",
            # Another run's (or worker's) SMS rate-limit counters and Bluesky session
            # in the shared Redis are not ours.
            **own_redis_keys,
        },
    )
    # local_stack turns quiet hours off (QUIET_HOURS_ENFORCED=false): the SMS of a
    # test that waits for completion must not wait for the morning.
    assert local.env["QUIET_HOURS_ENFORCED"] == "false"
    assert local.admin_login is not None
    try:
        yield Stack(admin_url=local.url("admin"), login=local.admin_login, local=local)
    finally:
        local.stop()


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium with "
            "`apt-get update && apt-get install -y chromium` (as root)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def admin_page(chromium_browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context per test; a screenshot of the last state goes to test-output/."""
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    new_page = context.new_page()
    try:
        yield new_page
    finally:
        SCREENSHOTS.mkdir(exist_ok=True)
        new_page.screenshot(path=SCREENSHOTS / f"{request.node.name}.png", full_page=True)
        context.close()


@pytest.fixture
def credentials(stack: Stack) -> tuple[str, str]:
    """The admin user local_stack created, with its random password."""
    return stack.login


@pytest.fixture
def failure() -> tuple[str, str, str]:
    """The address the SMTP sink refuses, and the code and reason it answers."""
    return FAILING_EMAIL, str(FAILURE_CODE), FAILURE_REASON


@pytest.fixture
def shot() -> Callable[[str], str]:
    """Where to save a named screenshot in test-output/."""

    def path(name: str) -> str:
        SCREENSHOTS.mkdir(exist_ok=True)
        return str(SCREENSHOTS / f"{name}.png")

    return path
