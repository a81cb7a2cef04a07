"""Network sessions and OAuth tokens shared by every worker process, and the lock to renew them.

X rotates its refresh token on every use, and an AT Protocol refresh JWT works
once too: a token kept in one process's memory is spent for every other process
and for this one after a restart. So what a network hands out (X and LinkedIn
tokens, Bluesky sessions) is written here, and renewed under a lock:

1. read the stored credentials;
2. when the network refuses them, take the lock, **read again**: when another
   worker renewed them meanwhile, use its result; otherwise renew, store, unlock.

The store is Redis (``SOCIAL_REDIS_URL``, keys under ``SOCIAL_CREDENTIALS_PREFIX``),
so it is shared by every process on every host and survives restarts. Without
Redis the store is per process, which is only right for a single worker process.
Stored values are the network's secrets: keep the Redis private.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Protocol

import redis

from brandcast.shared.errors import TransientProviderError

DEFAULT_PREFIX = "brandcast:social:credentials:"
#: Seconds a renewal may hold the lock (a token request plus margin).
LOCK_TIMEOUT = 30.0


class CredentialStore(Protocol):
    """Credentials by key (``network:account``), shared by the processes that hold the store."""

    def load(self, key: str) -> dict[str, str] | None:
        """The stored credentials, or None when nothing is stored under ``key``."""

    def save(self, key: str, credentials: dict[str, str]) -> None: ...

    def renewing(self, key: str) -> contextlib.AbstractContextManager[None]:
        """Held while credentials under ``key`` are renewed: one renewal at a time."""


class LocalCredentialStore:
    """Per-process credentials: right for one worker process and for tests."""

    def __init__(self) -> None:
        self._values: dict[str, dict[str, str]] = {}
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def load(self, key: str) -> dict[str, str] | None:
        with self._guard:
            value = self._values.get(key)
        return dict(value) if value is not None else None

    def save(self, key: str, credentials: dict[str, str]) -> None:
        with self._guard:
            self._values[key] = dict(credentials)

    @contextlib.contextmanager
    def renewing(self, key: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield


class RedisCredentialStore:
    """Credentials in Redis as JSON; renewals serialised by a Redis lock with a timeout.

    An unreachable Redis is a transient error: renewing without the lock could
    spend a refresh token another worker is spending, which is worse than waiting.
    """

    def __init__(self, redis_url: str, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = redis.Redis.from_url(redis_url)
        self._prefix = prefix

    def load(self, key: str) -> dict[str, str] | None:
        try:
            raw = self._client.get(self._prefix + key)
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None  # unreadable: as if nothing were stored, renewed from the config
        if not isinstance(value, dict):
            return None
        return {str(k): str(v) for k, v in value.items()}

    def save(self, key: str, credentials: dict[str, str]) -> None:
        try:
            self._client.set(self._prefix + key, json.dumps(credentials))
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    @contextlib.contextmanager
    def renewing(self, key: str) -> Iterator[None]:
        lock = self._client.lock(
            f"{self._prefix}lock:{key}", timeout=LOCK_TIMEOUT, blocking_timeout=LOCK_TIMEOUT
        )
        try:
            acquired = lock.acquire()
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc
        if not acquired:
            raise TransientProviderError(
                "credentials_busy", f"another worker is still renewing the credentials of {key}"
            )
        try:
            yield
        finally:
            with contextlib.suppress(redis.RedisError):  # expired: the timeout released it
                lock.release()

    def delete(self, key: str) -> None:
        """Forget ``key`` (tests and operators replacing an account's credentials)."""
        self._client.delete(self._prefix + key, f"{self._prefix}lock:{key}")


def _unavailable(exc: Exception) -> TransientProviderError:
    return TransientProviderError(
        "credential_store_unavailable", f"the shared credential store is unreachable: {exc}"
    )


def credential_store(redis_url: str, prefix: str = DEFAULT_PREFIX) -> CredentialStore:
    """Redis when a URL is set, otherwise a per-process store."""
    if redis_url:
        return RedisCredentialStore(redis_url, prefix)
    return LocalCredentialStore()
