"""SMTP delivery over a small pool of reused connections per worker process.

Opening an SMTP session (TCP, EHLO, STARTTLS, AUTH) costs more than sending a
message, so sessions are kept between messages and re-opened when the server
has dropped them (``SMTPServerDisconnected``: idle timeouts are normal). Up to
``max_connections`` messages are in flight at once, each on a session of its
own (an SMTP session carries one transaction at a time); a session that failed
in a way that leaves it unusable is closed instead of going back to the pool.

Reply codes become the shared error tree: 4xx is transient (421 "service not
available" also counts as an outage, so failover can kick in), 5xx is
permanent with the server's code and text; refused connections, timeouts and
TLS failures are transient outages.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import threading
from typing import TYPE_CHECKING, Literal

from brandcast.email.dkim_signing import DkimSigner
from brandcast.email.message import EmailMessage, build_mime
from brandcast.email.providers.base import EmailProvider
from brandcast.shared.delivery import Outcome
from brandcast.shared.errors import (
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)

if TYPE_CHECKING:
    from brandcast.email.settings import EmailSettings

logger = logging.getLogger(__name__)

Security = Literal["none", "starttls", "tls"]

#: Replies about our session rather than the message: 530 "authentication required" /
#: "must issue STARTTLS first", 534 "mechanism too weak", 535 "credentials invalid",
#: 538 "encryption required".
_OUR_CONFIGURATION = frozenset({530, 534, 535, 538})


class SmtpProvider(EmailProvider):
    name = "smtp"

    @classmethod
    def from_settings(cls, settings: EmailSettings) -> SmtpProvider:
        dkim = None
        if settings.email_dkim_private_key_file is not None:
            dkim = DkimSigner.from_file(
                settings.email_dkim_private_key_file,
                selector=settings.email_dkim_selector,
                domain=settings.email_dkim_domain,
            )
        return cls(
            settings.email_smtp_host,
            settings.email_smtp_port,
            security=settings.email_smtp_security,
            username=settings.email_smtp_username,
            password=settings.email_smtp_password,
            timeout=settings.email_smtp_timeout,
            local_hostname=settings.email_smtp_local_hostname,
            dkim=dkim,
            max_connections=settings.email_smtp_connections,
        )

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: Security = "none",
        username: str = "",
        password: str = "",
        timeout: float = 30.0,
        local_hostname: str = "",
        dkim: DkimSigner | None = None,
        tls_context: ssl.SSLContext | None = None,
        max_connections: int = 1,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._host = host
        self._port = port
        self._security = security
        self._username = username
        self._password = password
        self._timeout = timeout
        self._local_hostname = local_hostname or None
        self._dkim = dkim
        self._tls_context = tls_context
        #: Sessions no send is using, most recently used last.
        self._idle: list[smtplib.SMTP] = []
        # Connections must not be shared across fork(): remember whose they are.
        self._owner_pid = os.getpid()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        #: Sessions opened so far (connection reuse is observable in tests and logs).
        self.connections_opened = 0

    def send(self, message: EmailMessage, *, idempotency_key: str) -> Outcome:
        mime = build_mime(message, idempotency_key=idempotency_key)
        raw = mime.as_bytes()
        if self._dkim is not None:
            raw = self._dkim.sign(raw)
        with self._slots:
            self._transmit(message.from_address, message.to_address, raw)
        return Outcome(provider=self.name, provider_message_id=str(mime["Message-ID"]))

    def close(self) -> None:
        """Quit the idle sessions (one in use is closed by its send, or kept for the next)."""
        with self._lock:
            idle, self._idle = self._idle, []
            ours = self._owner_pid == os.getpid()
        if ours:
            for connection in idle:
                _close(connection, quit_politely=True)

    def _transmit(self, sender: str, recipient: str, raw: bytes) -> None:
        connection = self._checkout()
        reused = connection is not None
        keep = False
        try:
            if connection is None:
                connection = self._connect()
            try:
                connection.sendmail(sender, [recipient], raw)
            except smtplib.SMTPServerDisconnected:
                if not reused:
                    raise
                # The kept connection went stale (idle timeout, server restart): once more
                # on a fresh one.
                logger.info("SMTP connection dropped by the server; reconnecting")
                _close(connection, quit_politely=False)
                connection = None
                connection = self._connect()
                connection.sendmail(sender, [recipient], raw)
            keep = True
        except ProviderError:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            keep = _session_survives(code)
            raise self._reply_error(code, text) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise TransientProviderError(
                str(exc.smtp_code),
                f"authentication failed: {_text(exc.smtp_error)}",
                provider=self.name,
                outage=True,
            ) from exc
        except smtplib.SMTPConnectError as exc:  # the greeting was not 220
            raise TransientProviderError(
                str(exc.smtp_code),
                f"connection refused by the server: {_text(exc.smtp_error)}",
                provider=self.name,
                outage=True,
            ) from exc
        except smtplib.SMTPResponseException as exc:  # sender refused, data error, helo error
            keep = _session_survives(exc.smtp_code)
            raise self._reply_error(exc.smtp_code, exc.smtp_error) from exc
        except smtplib.SMTPServerDisconnected as exc:
            raise TransientProviderError(
                "disconnected", str(exc) or "server disconnected", provider=self.name, outage=True
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise TransientProviderError(
                "not_supported", str(exc), provider=self.name, outage=True
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:  # refused, timeout, TLS, DNS
            raise TransientProviderError(
                "connection_failed",
                f"{type(exc).__name__}: {exc} ({self._host}:{self._port})",
                provider=self.name,
                outage=True,
            ) from exc
        finally:
            if connection is not None:
                self._checkin(connection, keep=keep)

    def _reply_error(self, code: int, text: bytes | str) -> ProviderError:
        message = _text(text)
        if code in _OUR_CONFIGURATION:
            # The server wants TLS or AUTH we did not give: every message would fail the
            # same way, so treat it as this provider being unusable (failover, retry).
            return TransientProviderError(
                str(code), f"server refused our session: {message}", provider=self.name, outage=True
            )
        if 400 <= code < 500:
            return TransientProviderError(
                str(code), message, provider=self.name, outage=code == 421
            )
        if 500 <= code < 600:
            return PermanentProviderError(str(code), message, provider=self.name)
        return TransientProviderError(
            str(code), f"unexpected reply: {message}", provider=self.name, outage=True
        )

    def _checkout(self) -> smtplib.SMTP | None:
        """An idle session of this process, or None (the caller opens one)."""
        with self._lock:
            if self._owner_pid != os.getpid():
                # Inherited through fork(): the parent's sockets, neither ours to use nor
                # to close.
                self._idle = []
                self._owner_pid = os.getpid()
            return self._idle.pop() if self._idle else None

    def _checkin(self, connection: smtplib.SMTP, *, keep: bool) -> None:
        if keep:
            with self._lock:
                if self._owner_pid == os.getpid():
                    self._idle.append(connection)
                    return
        _close(connection, quit_politely=False)

    def _connect(self) -> smtplib.SMTP:
        context = self._tls_context or ssl.create_default_context()
        connection: smtplib.SMTP
        if self._security == "tls":
            connection = smtplib.SMTP_SSL(
                self._host,
                self._port,
                local_hostname=self._local_hostname,
                timeout=self._timeout,
                context=context,
            )
        else:
            connection = smtplib.SMTP(
                self._host, self._port, local_hostname=self._local_hostname, timeout=self._timeout
            )
        try:
            connection.ehlo()
            if self._security == "starttls":
                connection.starttls(context=context)
                connection.ehlo()
            if self._username:
                connection.login(self._username, self._password)
        except BaseException:
            connection.close()
            raise
        with self._lock:
            self.connections_opened += 1
        return connection


def _session_survives(code: int) -> bool:
    """Whether a session that got reply ``code`` can carry the next message.

    smtplib resets the transaction after a refusal, and closes the socket itself on
    421; refusals of our session (TLS, AUTH) and replies outside 4xx/5xx mean the
    next message would fare no better on it.
    """
    return 400 <= code < 600 and code != 421 and code not in _OUR_CONFIGURATION


def _close(connection: smtplib.SMTP, *, quit_politely: bool) -> None:
    try:
        if quit_politely:
            connection.quit()
        else:
            connection.close()
    except (OSError, smtplib.SMTPException):
        connection.close()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
