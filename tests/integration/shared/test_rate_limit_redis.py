"""The shared rate limit holds across processes: it lives in the real Redis."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ProcessPoolExecutor

from brandcast.shared.ratelimit import RedisRateLimiter

REDIS_URL = "redis://127.0.0.1:6379/15"


def _send(key: str, count: int) -> list[float]:
    limiter = RedisRateLimiter(REDIS_URL, key, per_second=20)
    stamps = []
    for _ in range(count):
        limiter.acquire()
        stamps.append(time.time())
    return stamps


def test_two_processes_share_one_limit() -> None:
    key = f"test-{uuid.uuid4().hex}"
    with ProcessPoolExecutor(2) as pool:
        results = list(pool.map(_send, [key, key], [15, 15]))
    stamps = sorted(results[0] + results[1])
    elapsed = stamps[-1] - stamps[0]
    # 30 sends at 20/s need at least 29 intervals of 50 ms; one process alone would do it in ~0.7s.
    assert elapsed >= 29 / 20 * 0.9, f"30 sends took only {elapsed:.2f}s"
