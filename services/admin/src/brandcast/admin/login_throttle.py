"""Login throttling: per account and per client address, an increasing delay.

After ``FREE_FAILURES`` wrong passwords in a row for an account, or from an
address, further attempts for it are refused (429, ``Retry-After``) without
checking the password until a delay has passed; the delay doubles with each
further failure, up to ``MAX_DELAY``. A success clears the account's and the
address's counts. Every refusal and every lock is logged.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

log = logging.getLogger(__name__)

#: Wrong passwords in a row allowed without any delay.
FREE_FAILURES: Final = 3
#: Seconds locked after the first failure beyond the free ones; doubles after each.
FIRST_DELAY: Final = 2.0
MAX_DELAY: Final = 15 * 60.0
#: Counts of keys that stay quiet this long are forgotten.
FORGET_AFTER: Final = 60 * 60.0
#: At most this many keys are tracked (the oldest are forgotten first).
MAX_KEYS: Final = 100_000


@dataclass
class _Failures:
    count: int
    locked_until: float
    last: float


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, _Failures] = {}

    def wait_for(self, account: str, address: str) -> float:
        """Seconds before ``account`` may try again from ``address`` (0: now)."""
        now = self._clock()
        with self._lock:
            waits = [
                f.locked_until - now
                for f in (self._failures.get(k) for k in _keys(account, address))
                if f is not None
            ]
        wait = max([0.0, *waits])
        if wait > 0:
            log.warning(
                "login refused while throttled",
                extra={"account": account, "client": address, "retry_after": math.ceil(wait)},
            )
        return wait

    def failed(self, account: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            self._forget(now)
            for key in _keys(account, address):
                entry = self._failures.get(key) or _Failures(0, 0.0, now)
                entry.count += 1
                entry.last = now
                if entry.count > FREE_FAILURES:
                    delay = min(MAX_DELAY, FIRST_DELAY * 2 ** (entry.count - FREE_FAILURES - 1))
                    entry.locked_until = now + delay
                    log.warning(
                        "login throttled after %d failures: %s locked for %.0f s",
                        entry.count,
                        key,
                        delay,
                        extra={"account": account, "client": address},
                    )
                self._failures[key] = entry

    def succeeded(self, account: str, address: str) -> None:
        with self._lock:
            for key in _keys(account, address):
                self._failures.pop(key, None)

    def _forget(self, now: float) -> None:
        if len(self._failures) < MAX_KEYS:
            return
        quiet = [k for k, f in self._failures.items() if now - f.last > FORGET_AFTER]
        for key in quiet:
            del self._failures[key]
        if len(self._failures) >= MAX_KEYS:
            for key in sorted(self._failures, key=lambda k: self._failures[k].last)[
                : MAX_KEYS // 10
            ]:
                del self._failures[key]


def _keys(account: str, address: str) -> tuple[str, str]:
    return (f"account:{account.lower()}", f"client:{address}")
