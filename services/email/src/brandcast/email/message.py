"""One outgoing email, validated, and its RFC 5322 form.

:func:`message_from_item` turns a dispatch item into an :class:`EmailMessage`
and refuses (``PermanentProviderError`` naming the field) anything that could
not be sent safely: missing fields, more than one address in an address field,
or a line break in any value that becomes a header. The modern ``email``
policy would raise on those too, but only deep inside a provider; checking
here gives every provider the same clear failed receipt and makes header
injection impossible by construction.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage as MimeMessage
from email.policy import SMTP
from email.utils import format_datetime, localtime

from brandcast.shared.errors import PermanentProviderError
from brandcast.v1 import bus_pb2

#: SMTP line endings, and bodies as quoted-printable/base64 so any server (no 8BITMIME) takes them.
MIME_POLICY = SMTP.clone(cte_type="7bit")
#: What RFC 5322 allows on the left of a Message-ID (dot-atom-text).
_MSG_ID_LEFT = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LINE_BREAK = re.compile(r"[\r\n\x00]")
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
    """Validate an email dispatch item; ``PermanentProviderError`` names the bad field."""
    if item.WhichOneof("variant") != "email":
        raise _refuse("variant", f"expected an email variant, got {item.WhichOneof('variant')}")
    variant = item.email
    if not variant.text and not variant.html:
        raise _refuse("email.text", "an email needs a text or an HTML body")
    return EmailMessage(
        from_address=_address("email.from_address", variant.from_address, required=True),
        to_address=_address("address", item.address, required=True),
        subject=_single_line("email.subject", variant.subject),
        text=variant.text,
        html=variant.html,
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


def build_mime(message: EmailMessage, *, idempotency_key: str) -> MimeMessage:
    """The RFC 5322 message: ``multipart/alternative`` text + HTML, SMTP policy (CRLF).

    Non-ASCII display names and subjects become RFC 2047 encoded words. Raises
    ``PermanentProviderError`` if the ``email`` package refuses a value.
    """
    mime = MimeMessage(policy=MIME_POLICY)
    try:
        mime["From"] = Address(message.from_name, addr_spec=message.from_address)
        mime["To"] = Address(message.to_name, addr_spec=message.to_address)
        if message.reply_to:
            mime["Reply-To"] = Address(addr_spec=message.reply_to)
        mime["Subject"] = message.subject
        mime["Date"] = format_datetime(localtime())
        mime["Message-ID"] = message.message_id(idempotency_key)
        if unsubscribe := message.list_unsubscribe():
            mime["List-Unsubscribe"] = unsubscribe
            if message.one_click:
                mime["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mime.set_content(message.text or _fallback_text())
        if message.html:
            mime.add_alternative(message.html, subtype="html")
    except (ValueError, TypeError) as exc:
        # e.g. "Header values may not contain linefeed or carriage return characters"
        raise PermanentProviderError("invalid_message", f"cannot build MIME: {exc}") from exc
    return mime


def _fallback_text() -> str:
    return "This message is best viewed in an email client that shows HTML.\n"


__all__ = ["MIME_POLICY", "EmailMessage", "build_mime", "message_from_item"]
