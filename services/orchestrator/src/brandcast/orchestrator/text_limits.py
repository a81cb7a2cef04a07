"""Size limits of every text field of a campaign, and the characters refused in them.

One table for the whole spec: every string field has a limit in UTF-8 bytes
(``FIELD_BYTES`` by its proto name, ``DEFAULT_TEXT_BYTES`` otherwise), every
repeated field and map a limit on its entries, and the spec without its
audience at most ``MAX_SPEC_BYTES``. The README's "Limits" section lists them.

NUL is refused in every text of the spec (it reached an SMS provider once), and
CR/LF in every field that becomes a header or an address (a sender name, the
List-Unsubscribe mailto), where it would fail every delivery at dispatch.
Recipients are cleaned rather than refused: see :func:`clean_recipient`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from brandcast.orchestrator.rendering import FieldViolation
from brandcast.v1 import campaign_pb2

KIB: Final = 1024
#: Any string field of the spec without an entry in FIELD_BYTES.
DEFAULT_TEXT_BYTES: Final = 1 * KIB
#: The serialized spec without its audience.
MAX_SPEC_BYTES: Final = 1024 * KIB
#: Per field (proto full name): the limit in UTF-8 bytes.
FIELD_BYTES: Final[dict[str, int]] = {
    "brandcast.v1.CoreMessage.body": 64 * KIB,
    "brandcast.v1.MessageContent.body": 64 * KIB,
    "brandcast.v1.CoreMessage.cta_url": 2 * KIB,
    "brandcast.v1.CoreMessage.image_url": 2 * KIB,
    "brandcast.v1.BrandKit.logo_url": 2 * KIB,
    "brandcast.v1.BrandKit.voice": 4 * KIB,
    "brandcast.v1.BrandKit.legal_footer": 4 * KIB,
    "brandcast.v1.EmailSettings.unsubscribe_url": 2 * KIB,
    "brandcast.v1.EmailSettings.unsubscribe_mailto": 2 * KIB,
    "brandcast.v1.EmailTemplates.subject": 4 * KIB,
    "brandcast.v1.EmailTemplates.preheader": 4 * KIB,
    "brandcast.v1.EmailTemplates.html": 256 * KIB,
    "brandcast.v1.EmailTemplates.text": 64 * KIB,
    "brandcast.v1.SmsSettings.template": 4 * KIB,
    "brandcast.v1.SocialSettings.template": 16 * KIB,
}
#: Per repeated field or map (proto full name): the most entries.
FIELD_ENTRIES: Final[dict[str, int]] = {
    "brandcast.v1.BrandKit.social_accounts": 50,
    "brandcast.v1.BrandKit.default_hashtags": 30,
    "brandcast.v1.CoreMessage.hashtags": 30,
    "brandcast.v1.CoreMessage.translations": 100,
    "brandcast.v1.SocialSettings.account_ids": 50,
    "brandcast.v1.CampaignSpec.labels": 50,
}
#: Any repeated field or map without an entry in FIELD_ENTRIES.
DEFAULT_ENTRIES: Final = 50
#: Fields that end up in a header or an address: CR and LF refused.
HEADER_FIELDS: Final = frozenset(
    {
        "brandcast.v1.EmailSender.name",
        "brandcast.v1.EmailSender.address",
        "brandcast.v1.EmailSender.reply_to",
        "brandcast.v1.EmailSettings.subject",
        "brandcast.v1.EmailSettings.unsubscribe_url",
        "brandcast.v1.EmailSettings.unsubscribe_mailto",
        "brandcast.v1.BrandKit.name",
        "brandcast.v1.BrandKit.sms_sender",
        "brandcast.v1.SocialAccount.id",
        "brandcast.v1.SocialAccount.handle",
        "brandcast.v1.SocialAccount.language",
        "brandcast.v1.CampaignSpec.name",
    }
)
#: Recipient fields, checked per recipient (the audience is not walked: too slow).
RECIPIENT_NAME_BYTES: Final = 256
RECIPIENT_SHORT_BYTES: Final = 200

_SKIPPED: Final = frozenset({"brandcast.v1.CampaignSpec.audience"})
_LINE_BREAK: Final = re.compile(r"[\r\n]")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]+")


def spec_text_violations(spec: campaign_pb2.CampaignSpec, prefix: str) -> list[FieldViolation]:
    """Every text of ``spec`` (its audience aside) over its limit or holding a
    refused character; and the spec itself when it is over ``MAX_SPEC_BYTES``."""
    out = list(_walk(spec, prefix))
    if not out:
        without_audience = campaign_pb2.CampaignSpec()
        without_audience.CopyFrom(spec)
        del without_audience.audience[:]
        size = without_audience.ByteSize()
        if size > MAX_SPEC_BYTES:
            out.append(
                FieldViolation(
                    prefix, f"is {size} bytes without its audience; at most {MAX_SPEC_BYTES}"
                )
            )
    return out


def _walk(message: Message, path: str) -> Iterator[FieldViolation]:
    for field, value in message.ListFields():
        name = field.full_name
        if name in _SKIPPED:
            continue
        here = f"{path}.{field.name}"
        if field.is_repeated:
            most = FIELD_ENTRIES.get(name, DEFAULT_ENTRIES)
            if len(value) > most:
                yield FieldViolation(here, f"at most {most} entries")
                continue
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                value_field = field.message_type.fields_by_name["value"]
                for key, item in value.items():
                    yield from _text(f"{name}.key", f"{here}[{key!r}]", key)
                    if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                        yield from _walk(item, f"{here}[{key!r}]")
                    elif value_field.type == FieldDescriptor.TYPE_STRING:
                        yield from _text(name, f"{here}[{key!r}]", item)
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                for i, item in enumerate(value):
                    yield from _walk(item, f"{here}[{i}]")
            elif field.type == FieldDescriptor.TYPE_STRING:
                for i, item in enumerate(value):
                    yield from _text(name, f"{here}[{i}]", item)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            yield from _walk(value, here)
        elif field.type == FieldDescriptor.TYPE_STRING:
            yield from _text(name, here, value)


def _text(name: str, path: str, value: str) -> Iterator[FieldViolation]:
    limit = FIELD_BYTES.get(name, DEFAULT_TEXT_BYTES)
    # Characters first: a string of more characters than the limit has more bytes too.
    if len(value) > limit or len(value.encode("utf-8", "surrogatepass")) > limit:
        yield FieldViolation(path, f"must be at most {limit} bytes (UTF-8)")
    elif "\x00" in value:
        yield FieldViolation(path, "must not contain NUL (U+0000)")
    elif name in HEADER_FIELDS and _LINE_BREAK.search(value):
        yield FieldViolation(path, "must not contain line breaks (CR or LF)")


def recipient_violations(recipient: campaign_pb2.Recipient, path: str) -> list[FieldViolation]:
    """Recipient texts over their limits (the id, email, phone and attributes
    are checked where they are validated)."""
    out = []
    if len(recipient.name.encode()) > RECIPIENT_NAME_BYTES:
        out.append(
            FieldViolation(f"{path}.name", f"must be at most {RECIPIENT_NAME_BYTES} bytes (UTF-8)")
        )
    for field in ("locale", "timezone", "segment"):
        if len(getattr(recipient, field).encode()) > RECIPIENT_SHORT_BYTES:
            out.append(
                FieldViolation(
                    f"{path}.{field}", f"must be at most {RECIPIENT_SHORT_BYTES} bytes (UTF-8)"
                )
            )
    return out


def clean_recipient(recipient: campaign_pb2.Recipient) -> None:
    """Control characters out of what a recipient's texts carry into messages:
    in the name (a display name in a header) each run becomes one space, and
    NUL goes from the segment and the attribute values."""
    if _CONTROL.search(recipient.name):
        recipient.name = _CONTROL.sub(" ", recipient.name).strip()
    if "\x00" in recipient.segment:
        recipient.segment = recipient.segment.replace("\x00", "")
    for key, value in list(recipient.attributes.items()):
        if "\x00" in value:
            recipient.attributes[key] = value.replace("\x00", "")
