"""A local SMTP server that keeps what it receives: the email adapter's sandbox.

Every accepted message is written as an ``.eml`` file (the exact bytes received)
and described by one line of ``index.jsonl`` (file, mail_from, rcpt_tos,
subject, message_id, received_at). Chosen recipients can be refused with an
SMTP code, to exercise retries and failures:

- explicit rules, ``--fail bounce@example.com=550`` or ``slow@example.com=451:2``
  (the first two attempts get 451, later ones are accepted), or
  :meth:`SinkHandler.fail` in-process;
- any local part ending in ``+<code>``: ``someone+550@example.com`` is refused with 550.

Listens on loopback only unless told otherwise.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32, default
from pathlib import Path
from typing import Any, TextIO

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

INDEX_FILE = "index.jsonl"

_REPLIES = {
    421: "421 4.3.2 Service not available, closing transmission channel",
    450: "450 4.2.1 Mailbox temporarily unavailable",
    451: "451 4.3.0 Temporary local problem, try again later",
    452: "452 4.2.2 Mailbox full",
    550: "550 5.1.1 Mailbox unavailable: no such user",
    551: "551 5.1.6 User not local",
    552: "552 5.2.2 Mailbox full",
    553: "553 5.1.3 Mailbox name not allowed",
    554: "554 5.7.1 Message rejected",
}
#: Longest a held RCPT waits, so a forgotten hold cannot wedge the sink.
_MAX_HOLD = 60.0
_CODE_IN_LOCAL_PART = re.compile(r"\+([45]\d\d)@", re.ASCII)


def reply_for(code: int) -> str:
    """The SMTP reply line the sink answers with for ``code``."""
    if code in _REPLIES:
        return _REPLIES[code]
    if not 400 <= code < 600:
        raise ValueError(f"failure code must be 4xx or 5xx, got {code}")
    return f"{code} {'4' if code < 500 else '5'}.0.0 Refused by the sandbox"


@dataclass
class FailureRule:
    code: int
    #: Refusals left before the address is accepted; None = refuse for ever.
    remaining: int | None = None

    @classmethod
    def parse(cls, spec: str) -> tuple[str, FailureRule]:
        """``address=code`` or ``address=code:times`` (the ``--fail`` option)."""
        address, sep, rule = spec.partition("=")
        if not sep or "@" not in address:
            raise ValueError(f"--fail {spec!r}: expected address=code or address=code:times")
        code_text, _, times_text = rule.partition(":")
        try:
            code = int(code_text)
            times = int(times_text) if times_text else None
        except ValueError:
            raise ValueError(f"--fail {spec!r}: code and times must be numbers") from None
        reply_for(code)  # validates the range
        return address.strip().lower(), cls(code, times)


class SinkHandler:
    """aiosmtpd handler: refuses per the rules, stores everything else."""

    def __init__(self, directory: Path, failures: dict[str, FailureRule] | None = None) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._failures = {k.lower(): v for k, v in (failures or {}).items()}
        self._lock = threading.Lock()
        self._stored = len(read_index(directory))
        #: EHLO/HELO greetings seen: one per SMTP session a client opened.
        self.sessions = 0
        #: Recipients refused so far, with the code they got.
        self.refused: list[tuple[str, int]] = []
        self._held: set[str] = set()
        #: RCPT commands currently kept waiting by :meth:`hold`.
        self.waiting = 0
        # Kept open: opening it per message cost more than writing the line.
        self._index: TextIO | None = None

    def fail(self, address: str, code: int, times: int | None = None) -> None:
        """Refuse ``address`` with ``code`` (``times`` times, or always)."""
        reply_for(code)
        with self._lock:
            self._failures[address.lower()] = FailureRule(code, times)

    def hold(self, address: str) -> None:
        """Keep RCPT for ``address`` unanswered until :meth:`release` (a slow server)."""
        with self._lock:
            self._held.add(address.lower())

    def release(self) -> None:
        with self._lock:
            self._held.clear()

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def _failure_for(self, address: str) -> int | None:
        with self._lock:
            rule = self._failures.get(address.lower())
            if rule is not None and rule.remaining != 0:
                if rule.remaining is not None:
                    rule.remaining -= 1
                return rule.code
        match = _CODE_IN_LOCAL_PART.search(address)
        return int(match.group(1)) if match else None

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        self.sessions += 1
        return responses

    async def handle_HELO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str
    ) -> str:
        session.host_name = hostname
        self.sessions += 1
        return "250 brandcast-sink"

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self._held:
            self.waiting += 1
            try:
                deadline = time.monotonic() + _MAX_HOLD
                while address.lower() in self._held and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            finally:
                self.waiting -= 1
        code = self._failure_for(address)
        if code is not None:
            self.refused.append((address, code))
            return reply_for(code)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw: bytes = envelope.original_content or envelope.content
        # The headers as the raw strings received (compat32), the Subject then unfolded and
        # decoded (RFC 2047) by the modern policy as reading it from a message parsed with
        # that policy would: ~3x cheaper than the modern parse, which builds every header.
        fields: dict[str, str] = {}
        for name, value in BytesHeaderParser(policy=compat32).parsebytes(raw).raw_items():
            fields.setdefault(name.lower(), value)
        message_id = fields.get("message-id", "").strip()
        subject = str(default.header_fetch_parse("Subject", fields.get("subject", "")))
        with self._lock:
            self._stored += 1
            number = self._stored
        digest = hashlib.sha256((message_id or str(number)).encode()).hexdigest()[:12]
        name = f"{number:06d}-{digest}.eml"
        (self.directory / name).write_bytes(raw)
        entry = {
            "file": name,
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "subject": subject,
            "message_id": message_id,
            "received_at": datetime.now(UTC).isoformat(),
        }
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            if self._index is None:
                self._index = (self.directory / INDEX_FILE).open("a", encoding="utf-8")
            self._index.write(line)
            self._index.flush()  # a reader sees every line as soon as the sender is answered
        return f"250 2.0.0 Ok: queued as {digest}"

    def close(self) -> None:
        with self._lock:
            if self._index is not None:
                self._index.close()
                self._index = None


class SinkController(Controller):
    """aiosmtpd's threaded controller, able to listen on port 0."""

    handler: SinkHandler

    def stop(self, no_assert: bool = False) -> None:
        super().stop(no_assert)
        self.handler.close()

    def _trigger_server(self) -> None:
        # aiosmtpd would connect to port 0 to check the server is up: ask the socket first.
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        super()._trigger_server()  # type: ignore[no-untyped-call]


def _authenticator(username: str, password: str) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (
            hmac.compare_digest(data.login, username.encode())
            & hmac.compare_digest(data.password, password.encode())
        )
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

    return check


def start_sink(
    directory: Path,
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    failures: dict[str, FailureRule] | None = None,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    credentials: tuple[str, str] | None = None,
) -> tuple[SinkController, int]:
    """Start the sink in a background thread; returns the controller and its port.

    ``starttls`` offers (and requires) STARTTLS with that server context;
    ``implicit_tls`` wraps the whole connection (SMTPS); ``credentials`` requires
    AUTH with that username and password (with implicit TLS, AUTH is offered and
    checked but not required). Stop it with
    ``controller.stop()``.
    """
    options: dict[str, Any] = {}
    if starttls is not None:
        options.update(tls_context=starttls, require_starttls=True)
    if credentials is not None:
        options.update(
            authenticator=_authenticator(*credentials),
            # aiosmtpd only knows about STARTTLS: with implicit TLS (encrypted too) it must
            # be told not to insist on it, and then it cannot insist on AUTH either.
            auth_required=implicit_tls is None,
            auth_require_tls=implicit_tls is None,
        )
    controller = SinkController(
        SinkHandler(directory, failures),
        hostname=host,
        port=port,
        server_hostname="brandcast-sink",
        ready_timeout=10.0,
        ssl_context=implicit_tls,
        **options,
    )
    controller.start()
    return controller, int(controller.port)


def read_index(directory: Path) -> list[dict[str, Any]]:
    """The sink's index entries, oldest first (empty if nothing arrived yet)."""
    path = directory / INDEX_FILE
    if not path.exists():
        return []
    # The last element is "" or a line still being written: only complete lines count.
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]
    return [json.loads(line) for line in lines if line.strip()]


def wait_for_messages(directory: Path, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Poll the index until ``count`` messages arrived; ``TimeoutError`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        entries = read_index(directory)
        if len(entries) >= count:
            return entries
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(entries)} of {count} messages arrived in {timeout}s")
        time.sleep(0.05)
