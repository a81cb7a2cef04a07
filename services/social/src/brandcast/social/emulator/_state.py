"""What the emulator remembers: posts, tokens, sessions, pending faults, requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

#: ``late_answer``: the post is made, but the answer comes after ``delay`` seconds.
FaultKind = Literal["429", "500", "timeout", "expired_token", "content_error", "late_answer"]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "429",
    "500",
    "timeout",
    "expired_token",
    "content_error",
    "late_answer",
)
EMULATED_NETWORKS = ("mastodon", "bluesky", "x", "linkedin")


@dataclass
class Fault:
    network: str
    kind: FaultKind
    count: int = 1
    #: Seconds announced by rate-limit headers of a 429.
    retry_after: int = 30
    #: Seconds a ``timeout`` fault holds the request before answering 504.
    delay: float = 5.0


@dataclass
class BlueskySession:
    did: str
    handle: str
    access_jwt: str
    refresh_jwt: str
    access_expires_at: float


@dataclass
class EmulatorState:
    #: Mastodon instance limits served by ``/api/v2/instance``.
    mastodon_max_characters: int = 500
    mastodon_characters_per_url: int = 23
    #: Seconds a Bluesky access JWT lives (two hours, as on Bluesky's PDS; SDKs renew a
    #: token 15 minutes before its ``exp``, so a shorter life has them renew at every call).
    bluesky_access_ttl: float = 7200.0
    posts: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    #: (access token, Idempotency-Key) -> the status first created with them.
    mastodon_idempotency: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: Bearer tokens that were revoked (the ``expired_token`` fault, used refresh tokens).
    revoked: set[str] = field(default_factory=set)
    #: Tokens this emulator issued -> the account they belong to.
    issued: dict[str, str] = field(default_factory=dict)
    bluesky_by_access: dict[str, BlueskySession] = field(default_factory=dict)
    bluesky_by_refresh: dict[str, BlueskySession] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def take_fault(self, network: str, *kinds: FaultKind) -> Fault | None:
        """The next pending fault for ``network`` (of one of ``kinds`` if given), used once."""
        with self.lock:
            for fault in self.faults:
                if (
                    fault.network == network
                    and fault.count > 0
                    and (not kinds or fault.kind in kinds)
                ):
                    fault.count -= 1
                    return fault
        return None

    def next_id(self) -> int:
        with self.lock:
            return next(self._ids)

    def record_post(self, post: dict[str, Any]) -> None:
        with self.lock:
            self.posts.append(post)

    def record_request(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)

    def account_of(self, token: str) -> str | None:
        """The account a bearer token stands for, or None if it is not valid."""
        with self.lock:
            if not token or token in self.revoked:
                return None
            if token in self.issued:
                return self.issued[token]
        # Sandbox credentials are accepted as they come: "sandbox-<account>".
        return token.removeprefix("sandbox-")

    def issue(self, account: str, prefix: str) -> str:
        token = f"{prefix}-{uuid.uuid4().hex}"
        with self.lock:
            self.issued[token] = account
        return token

    def revoke(self, token: str) -> None:
        with self.lock:
            self.revoked.add(token)

    def new_bluesky_session(self, handle: str) -> BlueskySession:
        did = "did:plc:" + hashlib.sha256(handle.encode()).hexdigest()[:24]
        now = int(time.time())
        access_expires_at = now + self.bluesky_access_ttl
        session = BlueskySession(
            did=did,
            handle=handle,
            access_jwt=_jwt(
                "at+jwt",
                {"scope": "com.atproto.appPass", "sub": did, "aud": PDS_DID, "iat": now,
                 "exp": int(access_expires_at), "jti": uuid.uuid4().hex},
            ),
            refresh_jwt=_jwt(
                "refresh+jwt",
                {"scope": "com.atproto.refresh", "sub": did, "aud": PDS_DID, "iat": now,
                 "exp": now + 90 * 86400, "jti": uuid.uuid4().hex},
            ),
            access_expires_at=access_expires_at,
        )  # fmt: skip
        with self.lock:
            self.bluesky_by_access[session.access_jwt] = session
            self.bluesky_by_refresh[session.refresh_jwt] = session
        return session


#: The emulated PDS's service DID, the audience of the tokens it issues.
PDS_DID = "did:web:pds.sandbox.invalid"
_SIGNING_KEY = uuid.uuid4().bytes  # per process: tokens are only ever checked by lookup


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _jwt(typ: str, claims: dict[str, Any]) -> str:
    """A token shaped like a PDS's (HS256 JWT): clients read ``exp`` from it to refresh in time."""
    header = _b64url(json.dumps({"typ": typ, "alg": "HS256"}).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(_SIGNING_KEY, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"
