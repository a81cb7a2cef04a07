"""A real ``brandcast-social worker`` process on the test's vhost, posting to the emulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection

from brandcast.shared import topology
from brandcast.shared.bus import BusPublisher
from brandcast.social.emulator import RunningEmulator
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

NETWORKS = {
    "acme-masto": campaign_pb2.SOCIAL_NETWORK_MASTODON,
    "acme-bsky": campaign_pb2.SOCIAL_NETWORK_BLUESKY,
    "acme-x": campaign_pb2.SOCIAL_NETWORK_X,
    "acme-li": campaign_pb2.SOCIAL_NETWORK_LINKEDIN,
    "acme-x-unconfigured": campaign_pb2.SOCIAL_NETWORK_X,
}


@pytest.fixture
def worker(
    broker_url: str, emulator: RunningEmulator, tmp_path: Path, own_redis_keys: dict[str, str]
) -> Iterator[Path]:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        "acme-x-unconfigured:\n"
        "  network: x\n"
        f"  base_url: {emulator.url}\n"
        "  access_token_file: secrets/acme-x-token\n",
        encoding="utf-8",
    )
    env = os.environ | {
        "BROKER_URL": broker_url,
        "SOCIAL_SANDBOX_URL": emulator.url,
        "SOCIAL_ACCOUNTS_FILE": str(accounts),
        "SOCIAL_RATE_LIMIT": "0",
        "SOCIAL_RETRY_BASE_DELAY": "0.2",
        "SOCIAL_HTTP_TIMEOUT": "3",
        **own_redis_keys,
    }
    log = tmp_path / "worker.log"
    command = [
        str(Path(sys.executable).with_name("brandcast-social")),
        "worker",
        "--concurrency",
        "1",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _batch() -> bus_pb2.DispatchBatch:
    batch = bus_pb2.DispatchBatch(
        batch_id=str(uuid.uuid4()), campaign_id="camp-1", channel=campaign_pb2.CHANNEL_SOCIAL
    )
    for account, network in NETWORKS.items():
        batch.items.add(
            delivery_id=f"d-{account}",
            idempotency_key=f"camp-1:{account}",
            address=account,
            social=variant_pb2.SocialVariant(
                network=network,
                account_id=account,
                text="Spring sale 🌸 20% off #SpringSale https://acme.example/sale",
                language="en",
            ),
        )
    return batch


def _receipts(broker_url: str, expected: int, timeout: float) -> dict[str, bus_pb2.DeliveryReceipt]:
    receipts: dict[str, bus_pb2.DeliveryReceipt] = {}
    deadline = time.monotonic() + timeout
    with Connection(broker_url) as connection:
        queue = topology.receipts_queue()(connection.default_channel)
        queue.declare()
        while len(receipts) < expected and time.monotonic() < deadline:
            message = queue.get(no_ack=True)
            if message is None:
                time.sleep(0.1)
                continue
            assert message.properties["type"] == topology.RECEIPT_BATCH_TYPE
            batch = bus_pb2.ReceiptBatch()
            batch.ParseFromString(message.body)
            receipts.update((r.delivery_id, r) for r in batch.receipts)
    return receipts


def test_worker_posts_one_batch_to_every_network_and_publishes_receipts(
    broker_url: str, emulator: RunningEmulator, worker: Path
) -> None:
    # X throttles the first try: the worker must retry that post after the backoff.
    emulator.inject("x", "429", retry_after=1)
    with BusPublisher(broker_url) as publisher:
        publisher.declare_topology()
        publisher.publish_dispatch(_batch())

    receipts = _receipts(broker_url, expected=len(NETWORKS), timeout=60)

    assert set(receipts) == {f"d-{account}" for account in NETWORKS}, worker.read_text()
    posts = {post["network"]: post for post in emulator.posts()}
    assert set(posts) == {"mastodon", "bluesky", "x", "linkedin"}
    for account, network in [
        ("acme-masto", "mastodon"),
        ("acme-bsky", "bluesky"),
        ("acme-x", "x"),
        ("acme-li", "linkedin"),
    ]:
        receipt = receipts[f"d-{account}"]
        assert receipt.status == campaign_pb2.DELIVERY_STATUS_SENT, receipt
        assert receipt.provider == network
        assert receipt.provider_message_id == posts[network]["id"]
        assert receipt.public_url == posts[network]["url"]
        assert receipt.campaign_id == "camp-1"
        assert receipt.idempotency_key == f"camp-1:{account}"
    assert receipts["d-acme-x"].attempts == 2
    assert receipts["d-acme-masto"].attempts == 1
    assert posts["mastodon"]["idempotency_key"] == "camp-1:acme-masto"
    assert [f["index"] for f in posts["bluesky"]["facets"]] == [
        # "🌸" takes 4 bytes: "#SpringSale" starts at byte 25, not at index 22.
        {"byteStart": 25, "byteEnd": 36},
        {"byteStart": 37, "byteEnd": 62},
    ]
    failed = receipts["d-acme-x-unconfigured"]
    assert failed.status == campaign_pb2.DELIVERY_STATUS_FAILED
    assert failed.error_code == "missing_credentials"
    assert "access_token" in failed.error_message
    assert failed.provider == "x"
