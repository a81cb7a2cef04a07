"""Server-side sessions: the cookie names a session, the server decides if it lives.

The session cookie is signed but would otherwise stay valid for its whole
lifetime wherever it was copied. Each login registers a random session id;
every request's id must still be registered (and not past its lifetime), and
logging out removes it, so a copied cookie stops working at logout.

The registry lives in the admin process: a restart logs everyone out, and
replicas behind a load balancer need sticky sessions.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class _Entry:
    user: str
    expires: float


class SessionRegistry:
    def __init__(self, lifetime: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._lifetime = lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, _Entry] = {}

    def open(self, user: str) -> str:
        """A new session id for ``user``."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._prune(now)
            self._sessions[session_id] = _Entry(user, now + self._lifetime)
        return session_id

    def user_of(self, session_id: object) -> str | None:
        """The user of a live session; None if unknown, revoked or expired."""
        if not isinstance(session_id, str):
            return None
        with self._lock:
            entry = self._sessions.get(session_id)
            if entry is None:
                return None
            if entry.expires <= self._clock():
                del self._sessions[session_id]
                return None
            return entry.user

    def revoke(self, session_id: object) -> None:
        if isinstance(session_id, str):
            with self._lock:
                self._sessions.pop(session_id, None)

    def revoke_user(self, user: str) -> int:
        """End every session of ``user`` (a password change, a lost laptop)."""
        with self._lock:
            ids = [sid for sid, entry in self._sessions.items() if entry.user == user]
            for sid in ids:
                del self._sessions[sid]
            return len(ids)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def _prune(self, now: float) -> None:
        for sid in [sid for sid, entry in self._sessions.items() if entry.expires <= now]:
            del self._sessions[sid]
