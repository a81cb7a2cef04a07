"""Removing what a test wrote into the shared Redis, so later runs start clean.

The machine's Redis is shared by every test, CI and later sessions; a test that
writes under a namespace of its own removes that namespace when it ends, instead
of leaving keys that live for days (delivery-status keys expire after a week).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis

REDIS_URL = "redis://127.0.0.1:6379/0"


def forget_keys(*patterns: str, url: str = REDIS_URL) -> int:
    """Delete the keys matching ``patterns``; how many went. A Redis that is down
    (a test of an outage) leaves nothing to clean."""
    deleted = 0
    with contextlib.suppress(redis.RedisError):
        client = redis.Redis.from_url(url)
        for pattern in patterns:
            batch = list(client.scan_iter(pattern, count=1000))
            for start in range(0, len(batch), 1000):
                deleted += int(client.unlink(*batch[start : start + 1000]))
    return deleted


def forget_sms_namespace(namespace: str) -> int:
    """Everything an SMS adapter wrote under ``SMS_REDIS_NAMESPACE=namespace``."""
    return forget_keys(f"brandcast:{namespace}:*", f"brandcast:ratelimit:sms:{namespace}:*")


@contextmanager
def own_keys(tag: str) -> Iterator[dict[str, str]]:
    """Settings (environment variables) that give a stack's SMS adapter and social
    credential store keys of their own in the shared Redis, removed at the end.

    Under the defaults, stacks running at the same time (parallel test workers)
    would share rate limits, and would overwrite each other's Bluesky session:
    each stack's emulator knows only the sessions it issued itself.
    """
    namespace = f"{tag}-{uuid.uuid4().hex[:8]}"
    credentials = f"brandcast:{namespace}:social:credentials:"
    try:
        yield {"SMS_REDIS_NAMESPACE": namespace, "SOCIAL_CREDENTIALS_PREFIX": credentials}
    finally:
        forget_sms_namespace(namespace)
        forget_keys(f"{credentials}*")
