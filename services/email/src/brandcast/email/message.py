"""One outgoing email, validated, and its RFC 5322 form.

:func:`message_from_item` turns a dispatch item into an :class:`EmailMessage`
and refuses (``PermanentProviderError`` naming the field) anything that could
not be sent safely: missing fields, more than one address in an address field,
or a line break in any value that becomes a header. Checking here gives every
provider the same clear failed receipt and makes header injection impossible by
construction; :func:`build_mime` checks header values once more, because the
``compat32`` classes it builds with would not.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from email.errors import MessageError
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import format_datetime, formataddr, localtime
from typing import Any

from brandcast.shared import email_layouts
from brandcast.shared.errors import PermanentProviderError
from brandcast.v1 import bus_pb2

_LINE_BREAK = re.compile(r"[\r\n\x00]")


class _Compat32Smtp(Compat32):
    """``compat32`` with SMTP line endings, writing a header that already fits on its
    line as it is.

    ``compat32`` runs every header through :class:`email.header.Header` to fold it,
    ~20 µs each even when there is nothing to fold: for a plain ASCII value whose line
    fits, that produces exactly ``Name: value`` (a test compares the two on random
    values). Anything else is folded by ``compat32`` as before.
    """

    def fold_binary(self, name: str, value: Any) -> bytes:
        if (
            isinstance(value, str)
            and value.isascii()
            and self.max_line_length is not None
            and len(name) + 2 + len(value) <= self.max_line_length
            and not _LINE_BREAK.search(value)
        ):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


#: The ``compat32`` policy, not the modern one: its header registry (parsing every
#: header back into objects) and quoted-printable bodies (pure Python) made building
#: a message ~5x dearer.
MIME_POLICY = _Compat32Smtp(linesep="\r\n")
#: RFC 5322 2.1.1: a line must not exceed 998 characters; a part keeps lines this long
#: or shorter at most to be sent as 7bit.
_MAX_7BIT_LINE = 998
#: What RFC 5322 allows on the left of a Message-ID (dot-atom-text).
_MSG_ID_LEFT = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
#: A List-Unsubscribe URL goes between angle brackets: none of these may appear in it.
_URL_FORBIDDEN = re.compile(r"[\s<>,\x00-\x1f\x7f]")
#: A plain ``local@domain`` (dot-atoms of ASCII atext; domain labels of letters, digits
#: and hyphens): the parser would take it as it is, so it is answered without parsing.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*", re.ASCII)


@dataclass(frozen=True)
class EmailMessage:
    """What a provider needs to send one email (built by :func:`message_from_item`)."""

    from_address: str
    to_address: str
    subject: str
    text: str
    html: str
    from_name: str = ""
    to_name: str = ""
    reply_to: str = ""
    list_unsubscribe_url: str = ""
    list_unsubscribe_mailto: str = ""
    #: Carried to providers that keep metadata, so their webhooks can be matched back.
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def sender_domain(self) -> str:
        return self.from_address.rsplit("@", 1)[1].lower()

    def message_id(self, idempotency_key: str) -> str:
        """``<{idempotency_key}@{sender domain}>``: the same key gives the same id, so a
        duplicate send is recognisable downstream. Keys that are not valid there are hashed."""
        left = idempotency_key
        if not _MSG_ID_LEFT.match(left):
            left = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
        return f"<{left}@{self.sender_domain}>"

    def list_unsubscribe(self) -> str:
        """The List-Unsubscribe value (``<https...>, <mailto:...>``), empty without URLs."""
        urls = [u for u in (self.list_unsubscribe_url, self.list_unsubscribe_mailto) if u]
        return ", ".join(f"<{url}>" for url in urls)

    @property
    def one_click(self) -> bool:
        """RFC 8058 one-click applies to an HTTPS URL only."""
        return self.list_unsubscribe_url.startswith("https://")


def _refuse(field_name: str, reason: str) -> PermanentProviderError:
    return PermanentProviderError("invalid_message", f"{field_name}: {reason}")


def _single_line(field_name: str, value: str) -> str:
    if _LINE_BREAK.search(value):
        raise _refuse(field_name, "must not contain line breaks (CR, LF or NUL)")
    return value


def _address(field_name: str, value: str, *, required: bool) -> str:
    value = value.strip()
    if not value:
        if required:
            raise _refuse(field_name, "is required")
        return ""
    if _PLAIN_ADDRESS.fullmatch(value):
        # Nearly every address: the email package's parser costs ~15 µs per address
        # for the answer it would give, the value itself.
        return value
    _single_line(field_name, value)
    try:
        parsed = Address(addr_spec=value)
    except (ValueError, IndexError, MessageError) as exc:
        # headerregistry refuses anything that is not exactly one addr-spec
        # ("a@x, b@y", "Name <a@x>", "a@x\r\nBcc: ..."): no extra recipients.
        raise _refuse(field_name, f"is not a single email address ({exc})") from None
    if not parsed.domain or not parsed.username:
        raise _refuse(field_name, "is not a single email address (user@domain)")
    if not value.isascii():
        raise _refuse(field_name, "must be ASCII (SMTPUTF8 addresses are not supported)")
    return parsed.addr_spec


def _url(field_name: str, value: str, schemes: tuple[str, ...]) -> str:
    if not value:
        return ""
    if not value.startswith(schemes):
        raise _refuse(field_name, f"must start with {' or '.join(schemes)}")
    if _URL_FORBIDDEN.search(value):
        raise _refuse(field_name, "must not contain spaces, commas, angle brackets or controls")
    return value


def message_from_item(batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> EmailMessage:
    """Validate an email dispatch item; ``PermanentProviderError`` names the bad field.

    An e-mail laid out on one of its batch's layouts (``BUS_SHARED_EMAIL_LAYOUTS``)
    gets its bodies put together here, where they are used.
    """
    kind = item.WhichOneof("variant")
    if kind == "email":
        variant = item.email
        html, text = variant.html, variant.text
    elif kind == "laid_out_email":
        variant = item.laid_out_email.variant
        try:
            html, text = email_layouts.bodies(batch, item.laid_out_email)
        except ValueError as exc:
            raise _refuse("laid_out_email", str(exc)) from exc
    else:
        raise _refuse("variant", f"expected an email variant, got {kind}")
    if not text and not html:
        raise _refuse("email.text", "an email needs a text or an HTML body")
    return EmailMessage(
        from_address=_address("email.from_address", variant.from_address, required=True),
        to_address=_address("address", item.address, required=True),
        subject=_single_line("email.subject", variant.subject),
        text=text,
        html=html,
        from_name=_single_line("email.from_name", variant.from_name),
        to_name=_single_line("email.to_name", variant.to_name),
        reply_to=_address("email.reply_to", variant.reply_to, required=False),
        list_unsubscribe_url=_url(
            "email.list_unsubscribe_url", variant.list_unsubscribe_url, ("https://", "http://")
        ),
        list_unsubscribe_mailto=_url(
            "email.list_unsubscribe_mailto", variant.list_unsubscribe_mailto, ("mailto:",)
        ),
        metadata={
            "delivery_id": item.delivery_id,
            "campaign_id": batch.campaign_id,
            "idempotency_key": item.idempotency_key,
        },
    )


def build_mime(message: EmailMessage, *, idempotency_key: str) -> Message:
    """The RFC 5322 message: ``multipart/alternative`` text + HTML, CRLF line endings.

    Non-ASCII display names and subjects become RFC 2047 encoded words; a body is
    sent as 7bit when it is ASCII without NUL and with lines of at most 998 characters
    (RFC 2045 2.7), as UTF-8
    base64 otherwise, so any server (no 8BITMIME) takes it. Raises
    ``PermanentProviderError`` if a header value holds a line break.
    """
    headers: list[tuple[str, str | Header]] = [
        ("From", _mailbox(message.from_name, message.from_address, "From")),
        ("To", _mailbox(message.to_name, message.to_address, "To")),
    ]
    if message.reply_to:
        headers.append(("Reply-To", message.reply_to))
    headers += [
        ("Subject", _text_header(message.subject, "Subject")),
        ("Date", format_datetime(localtime())),
        ("Message-ID", _first_token_on_first_line(message.message_id(idempotency_key))),
    ]
    if unsubscribe := message.list_unsubscribe():
        headers.append(("List-Unsubscribe", _first_token_on_first_line(unsubscribe)))
        if message.one_click:
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    for name, value in headers:
        if _LINE_BREAK.search(str(value)):
            # message_from_item refuses these already; compat32 would write them as they are.
            raise PermanentProviderError(
                "invalid_message",
                f"cannot build MIME: {name}: header values may not contain "
                "linefeed or carriage return characters",
            )
    text = _text_part(message.text or _fallback_text(), "plain")
    if message.html:
        html = _text_part(message.html, "html")
        mime: Message = MIMEMultipart(
            "alternative", boundary=_boundary(text, html), policy=MIME_POLICY
        )
        for part in (text, html):
            del part["MIME-Version"]  # once, on the message itself
            mime.attach(part)
    else:
        mime = text
    for name, value in headers:
        # compat32 takes Header objects (encoded words) as values; typeshed says str only.
        mime[name] = value  # type: ignore[assignment]
    return mime


def _mailbox(name: str, address: str, header_name: str) -> str | Header:
    """``Name <address>``: an ASCII name quoted when it needs to be, any other as
    encoded words (which need no quoting)."""
    if not name or name.isascii():
        return formataddr((name, address))
    mailbox = Header(name, "utf-8", header_name=header_name)
    mailbox.append(f"<{address}>", "us-ascii")
    return mailbox


def _first_token_on_first_line(value: str) -> str | Header:
    """A value folded only between its tokens (``<url>,``), the first one kept after the
    name even when it is longer than the line.

    Folding a str, compat32 would start a value whose first token does not fit after the
    name on a line of its own (``List-Unsubscribe:`` CRLF ``<https://...>``), which
    parsers read back with a leading space; a :class:`Header` that is not told the
    header's name does not.
    """
    return Header(value) if len(value) > 60 else value


def _text_header(value: str, header_name: str) -> str | Header:
    return value if value.isascii() else Header(value, "utf-8", header_name=header_name)


def _text_part(body: str, subtype: str) -> MIMEText:
    if not body.endswith("\n"):
        body += "\n"  # as the modern policy's set_content did: a part ends with its line
    if (
        body.isascii()
        and "\x00" not in body
        and max(map(len, body.splitlines()), default=0) <= _MAX_7BIT_LINE
    ):
        return MIMEText(body, subtype, "us-ascii", policy=MIME_POLICY)  # 7bit
    return MIMEText(body, subtype, "utf-8", policy=MIME_POLICY)  # base64 (binascii)


def _boundary(*parts: Message) -> str:
    """A random multipart boundary none of ``parts`` contains.

    The generator would pick one itself, but checks it with a regular expression
    compiled for every message (~60 µs); a substring test of the encoded bodies is
    stricter and cheaper.
    """
    bodies = [str(part.get_payload()) for part in parts]
    while True:
        boundary = f"=_{secrets.token_hex(16)}"
        if not any(boundary in body for body in bodies):
            return boundary


def _fallback_text() -> str:
    return "This message is best viewed in an email client that shows HTML.\n"


__all__ = ["MIME_POLICY", "EmailMessage", "build_mime", "message_from_item"]
