"""Removing what a test wrote into the shared Redis, so later runs start clean.

The machine's Redis is shared by every test, CI and later sessions; a test that
writes under a namespace of its own removes that namespace when it ends, instead
of leaving keys that live for days (delivery-status keys expire after a week).
"""

from __future__ import annotations

import contextlib

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
