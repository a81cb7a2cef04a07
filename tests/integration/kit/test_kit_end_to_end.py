"""A new SMS provider and a new social network, declared here and nowhere else.

This module is all a channel team writes: a provider class with ``from_settings``
and ``send``, a network class with ``from_settings`` and ``publish`` plus its row
of the channel table (registered on import). Real ``brandcast-sms worker`` and
``brandcast-social worker`` processes load them by dotted path
(``SMS_PROVIDERS=test_kit_end_to_end:FakeSmsProvider``,
``SOCIAL_NETWORKS=test_kit_end_to_end:FakeNetwork``) and deliver batches taken
from real RabbitMQ; the receipts come back on the bus. No file outside this
module knows either of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection

from brandcast.shared import channels, topology
from brandcast.shared.bus import BusPublisher
from brandcast.shared.delivery import Outcome
from brandcast.shared.errors import PermanentProviderError
from brandcast.sms.providers import SmsProvider
from brandcast.sms.providers._port import ReportCallback
from brandcast.social.accounts import AccountConfig
from brandcast.social.networks import Network
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2

pytestmark = pytest.mark.rabbitmq

#: The new network's value in ``brandcast.v1.SocialNetwork`` (proto enums are open).
FAKENET = 90

# --- what a channel team writes ------------------------------------------------------------


class FakeSmsProvider:
    """An SMS provider: refuses numbers ending in 0, sends everything else."""

    name = "fakesms"

    @classmethod
    def from_settings(cls, settings: Any) -> FakeSmsProvider:
        return cls()

    def send(
        self,
        to: str,
        sender: str,
        text: str,
        *,
        idempotency_key: str,
        report: ReportCallback | None = None,
    ) -> Outcome:
        if to.endswith("0"):
            raise PermanentProviderError("fake_refused", "numbers ending in 0", provider=self.name)
        callback = report.url(self.name) if report is not None else ""
        # The message id says what the provider was given, for the test to check.
        return Outcome(provider=self.name, provider_message_id=f"{idempotency_key}|{callback}")

    def find_sent(self, to: str, sender: str, text: str, *, since: float) -> Outcome | None:
        return None

    def close(self) -> None:
        return None


class FakeNetwork(Network):
    """A social network: every post gets a public URL."""

    name = "fakenet"

    @classmethod
    def from_settings(cls, settings: Any) -> FakeNetwork:
        return cls()

    def publish(
        self, account: AccountConfig, post: variant_pb2.SocialVariant, *, idempotency_key: str
    ) -> Outcome:
        return Outcome(
            provider=self.name,
            provider_message_id=idempotency_key,
            public_url=f"https://fakenet.example/{account.account_id}/{len(post.text)}",
        )


channels.register_network(
    channels.Network(
        FAKENET,
        "fakenet",
        "Fakenet",
        channels.COUNT_CODE_POINTS,
        100,
        adapter=f"{__name__}:FakeNetwork",
    )
)

# --- the test --------------------------------------------------------------------------------

MODULE = Path(__file__).resolve()


def _type_checks(provider: SmsProvider) -> SmsProvider:
    return provider  # mypy: FakeSmsProvider implements the SMS port


_type_checks(FakeSmsProvider())


@pytest.fixture
def start_worker(broker_url: str, tmp_path: Path) -> Iterator[Callable[..., None]]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(channel: str, **env: str) -> None:
        environment = {
            **os.environ,
            # The workers import this module by its name, as a channel team's package.
            "PYTHONPATH": os.pathsep.join([str(MODULE.parent), os.environ.get("PYTHONPATH", "")]),
            "BROKER_URL": broker_url,
            **env,
        }
        log = (tmp_path / f"{channel}.log").open("wb")
        command = [sys.executable, "-m", f"brandcast.{channel}.cli", "worker", "--concurrency", "1"]
        processes.append(
            subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
        )

    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _read_receipts(connection: Connection, into: list[bus_pb2.DeliveryReceipt]) -> int:
    queue = topology.receipts_queue()(connection.default_channel)
    queue.declare()
    while (message := queue.get(no_ack=True)) is not None:
        if message.properties["type"] == topology.RECEIPT_BATCH_TYPE:
            into.extend(bus_pb2.ReceiptBatch.FromString(message.body).receipts)
    return len(into)


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
def test_a_provider_and_a_network_declared_only_here_deliver_through_real_workers(
    broker_url: str, start_worker: Callable[..., None]
) -> None:
    start_worker(
        "sms",
        SMS_PROVIDERS=f"{MODULE.stem}:FakeSmsProvider",
        SMS_REDIS_URL="",
        SMS_PREFIX_CAP="0",
        SMS_RATE_LIMIT="0",
        SMS_CALLBACK_BASE_URL="https://hooks.example",
    )
    start_worker(
        "social",
        SOCIAL_NETWORKS=f"{MODULE.stem}:FakeNetwork",
        SOCIAL_REDIS_URL="",
        SOCIAL_RATE_LIMIT="0",
        # Accounts not in an accounts file are sandbox accounts of the post's network.
        SOCIAL_SANDBOX_URL="http://127.0.0.1:9",
    )
    sms = bus_pb2.DispatchBatch(
        batch_id="b-sms",
        campaign_id="camp-kit",
        channel=campaign_pb2.CHANNEL_SMS,
        items=[
            bus_pb2.DispatchItem(
                delivery_id=f"sms-{number[-1]}",
                idempotency_key=f"key-{number[-1]}",
                address=number,
                sms=variant_pb2.SmsVariant(text="Hello", sender="+15005550006"),
            )
            for number in ("+447400123451", "+447400123450")
        ],
    )
    post = variant_pb2.SocialVariant(account_id="acme-fake", text="Hello, Fakenet", length=14)
    post.network = FAKENET  # type: ignore[assignment]  # a value the generated enum lacks
    social = bus_pb2.DispatchBatch(
        batch_id="b-social",
        campaign_id="camp-kit",
        channel=campaign_pb2.CHANNEL_SOCIAL,
        items=[
            bus_pb2.DispatchItem(
                delivery_id="post-1",
                idempotency_key="camp-kit:acme-fake",
                address="acme-fake",
                recipient_id="acme-fake",
                social=post,
            )
        ],
    )
    receipts: list[bus_pb2.DeliveryReceipt] = []
    with Connection(broker_url) as connection, BusPublisher(broker_url) as publisher:
        publisher.publish_dispatch(sms)
        publisher.publish_dispatch(social)
        _wait_for(lambda: _read_receipts(connection, receipts) >= 3, 90, "three receipts")

    by_id = {r.delivery_id: r for r in receipts}
    assert set(by_id) == {"sms-1", "sms-0", "post-1"}
    sent, failed = campaign_pb2.DELIVERY_STATUS_SENT, campaign_pb2.DELIVERY_STATUS_FAILED
    assert (by_id["sms-1"].status, by_id["sms-1"].provider) == (sent, "fakesms")
    # The provider got the idempotency key and a report URL of its own.
    assert by_id["sms-1"].provider_message_id == (
        "key-1|https://hooks.example/status/fakesms?d=sms-1&c=camp-kit"
    )
    assert (by_id["sms-0"].status, by_id["sms-0"].error_code) == (failed, "fake_refused")
    assert (by_id["post-1"].status, by_id["post-1"].provider) == (sent, "fakenet")
    assert by_id["post-1"].public_url == "https://fakenet.example/acme-fake/14"
