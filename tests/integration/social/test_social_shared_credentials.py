"""Tokens and sessions live in Redis: two worker processes renew them once, a restart reuses them.

Each worker here is a separate process wired by ``bootstrap(SocialSettings)`` the
way ``brandcast-social worker`` is, posting to the emulator, whose X refresh
tokens and Bluesky refresh JWTs work once (as the real networks' do).
"""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
import redis

from brandcast.shared.delivery import RetryPolicy, process_batch
from brandcast.social.bootstrap import bootstrap
from brandcast.social.emulator import RunningEmulator
from brandcast.social.settings import SocialSettings
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2

REDIS_URL = "redis://127.0.0.1:6379/15"
TOKEN = "/2/oauth2/token"
CREATE_SESSION = "/xrpc/com.atproto.server.createSession"
REFRESH_SESSION = "/xrpc/com.atproto.server.refreshSession"
#: (post text, receipt status, error code, error message) from one worker.
Result = tuple[str, int, str, str]
NETWORK_ENUM = {"x": campaign_pb2.SOCIAL_NETWORK_X, "bluesky": campaign_pb2.SOCIAL_NETWORK_BLUESKY}


@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = f"brandcast-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


@pytest.fixture
def accounts_file(tmp_path: Path, emulator: RunningEmulator) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text(
        f"acme-x:\n  network: x\n  base_url: {emulator.url}\n  handle: acme\n"
        "  access_token: sandbox-acme\n  refresh_token: sandbox-acme-refresh\n"
        "  client_id: brandcast-app\n"
        f"acme-bsky:\n  network: bluesky\n  base_url: {emulator.url}\n"
        "  identifier: acme.bsky.social\n  app_password: app-pass\n",
        encoding="utf-8",
    )
    return path


def _worker(
    accounts: str,
    prefix: str,
    account: str,
    text: str,
    barrier: Barrier | None,
    results: Queue[Result],
) -> None:
    """One worker process: wire the adapter from settings, wait for the other, post once."""
    settings = SocialSettings(
        social_accounts_file=Path(accounts),
        social_sandbox_url="",
        social_rate_limit=0,
        social_redis_url=REDIS_URL,
        social_credentials_prefix=prefix,
    )
    deliver = bootstrap(settings)
    batch = bus_pb2.DispatchBatch(campaign_id="c1", channel=campaign_pb2.CHANNEL_SOCIAL)
    network = "x" if account == "acme-x" else "bluesky"
    batch.items.add(
        delivery_id=f"d-{text}",
        idempotency_key=f"c1:{text}",
        address=account,
        social=variant_pb2.SocialVariant(network=NETWORK_ENUM[network], text=text),
    )
    if barrier is not None:
        barrier.wait(timeout=30)
    [receipt] = process_batch(batch, deliver, RetryPolicy(max_attempts=1)).receipts
    results.put((text, receipt.status, receipt.error_code, receipt.error_message))


def _run_workers(accounts: Path, prefix: str, account: str, texts: list[str]) -> list[Result]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(texts)) if len(texts) > 1 else None
    results: Queue[Result] = context.Queue()
    workers = [
        context.Process(
            target=_worker, args=(str(accounts), prefix, account, text, barrier, results)
        )
        for text in texts
    ]
    for process in workers:
        process.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for process in workers:
        process.join(timeout=30)
        assert process.exitcode == 0
    return sorted(outcomes)


SENT = campaign_pb2.DELIVERY_STATUS_SENT


@pytest.mark.slow
def test_two_x_workers_refresh_once_and_a_restarted_one_reuses_the_tokens(
    emulator: RunningEmulator, accounts_file: Path, prefix: str
) -> None:
    # The configured access token has expired: both workers get a 401 at the same time.
    emulator.state.revoke("sandbox-acme")

    first = _run_workers(accounts_file, prefix, "acme-x", ["one", "two"])

    assert [(text, status) for text, status, *_ in first] == [("one", SENT), ("two", SENT)]
    # One refresh: the worker that waited for the lock used the other one's new tokens.
    assert [r["status"] for r in emulator.requests(TOKEN)] == [200]

    # A restarted worker starts from the stored tokens: no 401, no refresh.
    [restarted] = _run_workers(accounts_file, prefix, "acme-x", ["three"])

    assert restarted[1] == SENT
    assert len(emulator.requests(TOKEN)) == 1
    statuses = [r["status"] for r in emulator.requests("/2/tweets")]
    assert statuses.count(401) == 2
    assert statuses[-1] == 201
    assert sorted(p["text"] for p in emulator.posts("x")) == ["one", "three", "two"]


@pytest.mark.slow
def test_two_bluesky_workers_share_one_session_and_renew_it_once(
    emulator: RunningEmulator, accounts_file: Path, prefix: str
) -> None:
    first = _run_workers(accounts_file, prefix, "acme-bsky", ["one", "two"])
    assert [status for _, status, *_ in first] == [SENT, SENT]
    assert len(emulator.requests(CREATE_SESSION)) == 1  # createSession is tightly rate-limited

    # The stored access JWT expires; two workers meet it at once and refresh once.
    with emulator.state.lock:
        for session in emulator.state.bluesky_by_access.values():
            session.access_expires_at = 0.0
    second = _run_workers(accounts_file, prefix, "acme-bsky", ["three", "four"])

    assert [status for _, status, *_ in second] == [SENT, SENT]
    assert [r["status"] for r in emulator.requests(REFRESH_SESSION)] == [200]
    assert len(emulator.requests(CREATE_SESSION)) == 1
    assert len(emulator.posts("bluesky")) == 4
