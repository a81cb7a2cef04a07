"""The whole stack for browser tests: the real orchestrator (gRPC, SQLite store,
dispatcher and receipt collector on a fresh RabbitMQ vhost), stand-in channel
adapters that consume the dispatch queues and publish receipts over the real
bus, and the admin served by uvicorn; Chromium from Debian driven by Playwright.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from google.protobuf.timestamp_pb2 import Timestamp
from kombu import Consumer, Message
from playwright.sync_api import Browser, Page, sync_playwright

from brandcast.admin import AdminSettings, create_app
from brandcast.admin.threaded import serve_in_thread
from brandcast.admin.users import UserDirectory
from brandcast.orchestrator.server import bootstrap, create_server
from brandcast.orchestrator.settings import OrchestratorSettings
from brandcast.shared.bus import BusPublisher, connect, decode_task_payload
from brandcast.shared.topology import CHANNEL_NAMES, dispatch_queue
from brandcast.v1 import bus_pb2, campaign_pb2

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output"
USER, PASSWORD = "marketer", "browser-test-password"
API_TOKEN = "browser-test-token"
#: The stand-in provider refuses this address, as a mailbox provider would.
FAILING_EMAIL = "gone@example.com"
FAILURE_CODE, FAILURE_REASON = "550", "5.1.1 mailbox does not exist (test provider)"


class StandInAdapters:
    """Consume every channel's dispatch queue and answer each delivery with a
    receipt on the real bus: SENT, or FAILED for ``FAILING_EMAIL``.

    The real adapters are separate services with their own tests; here only the
    bus contract matters, so the admin is followed end to end without providers.
    """

    def __init__(self, broker_url: str) -> None:
        self._broker_url = broker_url
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stand-in-adapters", daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> StandInAdapters:
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError(f"stand-in adapters did not start: {self.error}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            with (
                BusPublisher(self._broker_url, origin="stand-in") as publisher,
                connect(self._broker_url) as connection,
            ):
                publisher.declare_topology()
                queues = [dispatch_queue(name) for name in CHANNEL_NAMES.values()]

                def on_message(body: Any, message: Message) -> None:
                    batch = decode_task_payload(body[0][0])
                    publisher.publish_receipts(self._receipts(batch), CHANNEL_NAMES[batch.channel])
                    message.ack()

                with Consumer(connection, queues=queues, callbacks=[on_message], accept=["json"]):
                    self._ready.set()
                    while not self._stop.is_set():
                        try:
                            connection.drain_events(timeout=0.2)
                        except TimeoutError:
                            continue
        except BaseException as exc:
            self.error = exc
            self._ready.set()
            raise

    @staticmethod
    def _receipts(batch: bus_pb2.DispatchBatch) -> bus_pb2.ReceiptBatch:
        now = Timestamp()
        now.GetCurrentTime()
        receipts = bus_pb2.ReceiptBatch()
        for item in batch.items:
            failed = item.address == FAILING_EMAIL
            receipts.receipts.append(
                bus_pb2.DeliveryReceipt(
                    delivery_id=item.delivery_id,
                    campaign_id=batch.campaign_id,
                    channel=batch.channel,
                    status=campaign_pb2.DELIVERY_STATUS_FAILED
                    if failed
                    else campaign_pb2.DELIVERY_STATUS_SENT,
                    provider="test-provider",
                    provider_message_id="" if failed else f"msg-{item.delivery_id}",
                    error_code=FAILURE_CODE if failed else "",
                    error_message=FAILURE_REASON if failed else "",
                    attempts=1,
                    occurred_at=now,
                    idempotency_key=item.idempotency_key,
                )
            )
        return receipts


@dataclass(frozen=True)
class Stack:
    admin_url: str


@pytest.fixture
def stack(broker_url: str, tmp_path: Path) -> Iterator[Stack]:
    settings = OrchestratorSettings(
        database_url=f"sqlite:///{tmp_path / 'orchestrator.db'}",
        broker_url=broker_url,
        grpc_address="127.0.0.1:0",
        api_tokens=API_TOKEN,
        dispatch_poll_interval=0.1,
        # The test waits for completion: its SMS must not wait for the end of quiet hours.
        quiet_hours_enforced=False,
    )
    orchestrator = bootstrap(settings)
    server, port = create_server(settings, orchestrator)
    server.start()
    orchestrator.start()
    users = UserDirectory(
        {USER: PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)}
    )
    admin = create_app(
        AdminSettings(
            orchestrator_address=f"127.0.0.1:{port}",
            api_token=API_TOKEN,
            secret_key="browser-test-secret",
        ),
        users=users,
    )
    try:
        with StandInAdapters(broker_url), serve_in_thread(admin) as admin_url:
            yield Stack(admin_url=admin_url)
    finally:
        orchestrator.set_serving(False)
        orchestrator.events.close()
        server.stop(1).wait()
        orchestrator.stop(5)


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
def credentials() -> tuple[str, str]:
    return USER, PASSWORD


@pytest.fixture
def failure() -> tuple[str, str, str]:
    """The address the stand-in provider refuses, and the code and reason it gives."""
    return FAILING_EMAIL, FAILURE_CODE, FAILURE_REASON


@pytest.fixture
def shot() -> Callable[[str], str]:
    """Where to save a named screenshot in test-output/."""

    def path(name: str) -> str:
        SCREENSHOTS.mkdir(exist_ok=True)
        return str(SCREENSHOTS / f"{name}.png")

    return path
