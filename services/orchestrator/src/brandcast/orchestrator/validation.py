"""Structural validation of a submitted campaign, before anything is rendered or stored.

Every problem becomes one :class:`FieldViolation` naming the field by its path
in the request (``spec.audience[3].email``), so a caller can fix them all at
once. Channel content rules (segment budgets, template syntax) belong to the
renderer, which reports its problems the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from brandcast.orchestrator.fast_addresses import email_fast, phone_fast
from brandcast.orchestrator.quiet_hours import parse_clock_time, zone
from brandcast.orchestrator.rendering import FieldViolation
from brandcast.orchestrator.text_limits import (
    clean_recipient,
    recipient_violations,
    spec_text_violations,
)
from brandcast.shared import channels as channel_table
from brandcast.v1 import campaign_pb2

MAX_NAME_LENGTH: Final = 200
MAX_ID_LENGTH: Final = 200
MAX_ATTRIBUTES: Final = 50
MAX_ATTRIBUTE_BYTES: Final = 2048


@dataclass(frozen=True)
class SkippedAddress:
    """An invalid address left out of a recipient's deliveries (``skip_invalid``)."""

    channel: int
    address: str
    reason: str
    field: str


@dataclass(frozen=True)
class CheckedRecipient:
    """A valid recipient with its addresses in canonical form ("" when absent)."""

    recipient: campaign_pb2.Recipient
    email: str
    phone: str
    #: Addresses of enabled channels that were invalid and are skipped.
    skipped: tuple[SkippedAddress, ...] = ()


def normalize_email(address: str) -> str:
    """The canonical form of an email address; ``ValueError`` saying why it is not one.

    Lower-cased as a whole: mailbox providers ignore the case of the local part
    in practice, and a suppression must match however the address was typed.
    Most addresses take the cached path; the rest, and every error, the full one.
    """
    fast = email_fast(address)
    return fast if fast is not None else normalize_email_full(address)


def normalize_email_full(address: str) -> str:
    """``normalize_email`` by email-validator alone (the fast path's reference)."""
    try:
        return validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc


def normalize_phone(number: str) -> str:
    """The E.164 form of a phone number; ``ValueError`` saying why it is not one.

    Numbers written as ``+`` and digits take the cheap path; the rest, and
    every error, the full one.
    """
    fast = phone_fast(number)
    return fast if fast is not None else normalize_phone_full(number)


def normalize_phone_full(number: str) -> str:
    """``normalize_phone`` by phonenumbers alone (the fast path's reference)."""
    if not number.startswith("+"):
        raise ValueError("must be in E.164 format, starting with + and the country code")
    if any(char.isalpha() for char in number):
        # phonenumbers reads letters as keypad digits (vanity numbers) and drops
        # extensions: either would text someone other than the number given.
        raise ValueError("must contain digits only (no letters or extensions)")
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"is not a phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("is not a valid phone number for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_address(channel: int, address: str) -> str:
    """Canonical address for a suppression entry on ``channel``."""
    if channel == campaign_pb2.CHANNEL_EMAIL:
        return normalize_email(address)
    if channel == campaign_pb2.CHANNEL_SMS:
        return normalize_phone(address)
    raise ValueError("only email and sms addresses can be suppressed")


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number or out of range
    except ValueError:
        return False  # an unclosed IPv6 bracket, a bad port: not a URL, never a crash
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def validate_spec(spec: campaign_pb2.CampaignSpec, prefix: str = "spec") -> list[FieldViolation]:
    """Problems with the campaign itself (everything but the audience)."""
    out: list[FieldViolation] = []

    def bad(field: str, description: str) -> None:
        out.append(FieldViolation(f"{prefix}.{field}", description))

    if not spec.name.strip():
        bad("name", "is required")
    elif len(spec.name) > MAX_NAME_LENGTH:
        bad("name", f"must be at most {MAX_NAME_LENGTH} characters")
    if spec.priority not in campaign_pb2.CampaignPriority.values():
        bad("priority", f"unknown priority {spec.priority}")
    channels = spec.channels
    if not (channels.email.enabled or channels.sms.enabled or channels.social.enabled):
        bad("channels", "at least one channel must be enabled")
    core = spec.core_message
    if not (core.headline.strip() or core.body.strip()):
        bad("core_message", "a headline or a body is required")
    if core.cta_url and not _is_http_url(core.cta_url):
        bad("core_message.cta_url", "must be an absolute http(s) URL")
    if core.image_url and not _is_http_url(core.image_url):
        bad("core_message.image_url", "must be an absolute http(s) URL")
    kit = spec.brand_kit
    if kit.logo_url and not _is_http_url(kit.logo_url):
        bad("brand_kit.logo_url", "must be an absolute http(s) URL")
    if channels.email.enabled:
        if not kit.email_sender.address:
            bad("brand_kit.email_sender.address", "is required when email is enabled")
        else:
            _check_email(kit.email_sender.address, f"{prefix}.brand_kit.email_sender.address", out)
        if kit.email_sender.reply_to:
            _check_email(
                kit.email_sender.reply_to, f"{prefix}.brand_kit.email_sender.reply_to", out
            )
        unsubscribe = channels.email.unsubscribe_url
        if unsubscribe and not _is_http_url(unsubscribe):
            bad("channels.email.unsubscribe_url", "must be an absolute http(s) URL")
    if channels.sms.enabled and not kit.sms_sender:
        bad("brand_kit.sms_sender", "is required when sms is enabled")
    # Sizes, NUL and header line breaks of every text field, from one table.
    out += spec_text_violations(spec, prefix)
    out += _validate_quiet_hours(spec, prefix)
    out += _validate_social(spec, prefix)
    if spec.HasField("schedule") and spec.schedule.HasField("send_at"):
        send_at = spec.schedule.send_at
        if send_at.seconds < 0 or send_at.seconds > 253402300799:
            bad("schedule.send_at", "is out of range")
        if not 0 <= send_at.nanos <= 999_999_999:
            bad("schedule.send_at.nanos", "must be from 0 to 999999999")
    return out


def _validate_quiet_hours(spec: campaign_pb2.CampaignSpec, prefix: str) -> list[FieldViolation]:
    out: list[FieldViolation] = []
    for name in ("quiet_hours_start", "quiet_hours_end"):
        value = getattr(spec.channels.sms, name)
        if value:
            try:
                parse_clock_time(value)
            except ValueError as exc:
                out.append(FieldViolation(f"{prefix}.channels.sms.{name}", str(exc)))
    if spec.brand_kit.default_timezone:
        try:
            zone(spec.brand_kit.default_timezone)
        except ValueError:
            out.append(
                FieldViolation(f"{prefix}.brand_kit.default_timezone", "is not an IANA time zone")
            )
    return out


def _validate_social(spec: campaign_pb2.CampaignSpec, prefix: str) -> list[FieldViolation]:
    out: list[FieldViolation] = []

    def bad(field: str, description: str) -> None:
        out.append(FieldViolation(f"{prefix}.{field}", description))

    kit, channels = spec.brand_kit, spec.channels
    account_ids: set[str] = set()
    for i, account in enumerate(kit.social_accounts):
        if not account.id:
            bad(f"brand_kit.social_accounts[{i}].id", "is required")
        elif account.id in account_ids:
            bad(f"brand_kit.social_accounts[{i}].id", f"duplicate account id {account.id!r}")
        account_ids.add(account.id)
        # The networks of the channel table (a proto value without a row is not deliverable).
        if account.network not in {n.value for n in channel_table.networks()}:
            bad(
                f"brand_kit.social_accounts[{i}].network",
                "must be a known social network: "
                + ", ".join(n.name for n in channel_table.networks()),
            )
    if channels.social.enabled:
        for i, wanted in enumerate(channels.social.account_ids):
            if wanted not in account_ids:
                bad(f"channels.social.account_ids[{i}]", f"no brand kit account {wanted!r}")
        if not kit.social_accounts:
            bad("brand_kit.social_accounts", "at least one account is required for social")
    return out


def _check_email(address: str, field: str, out: list[FieldViolation]) -> None:
    try:
        normalize_email(address)
    except ValueError as exc:
        out.append(FieldViolation(field, f"is not a valid email address: {exc}"))


class RecipientChecker:
    """Checks audience members one by one against the enabled channels."""

    def __init__(
        self, channels: campaign_pb2.ChannelSettings, *, skip_invalid: bool = False
    ) -> None:
        self._email = channels.email.enabled
        self._sms = channels.sms.enabled
        #: An invalid address skips its channel instead of refusing the recipient.
        self._skip_invalid = skip_invalid

    def check(
        self, recipient: campaign_pb2.Recipient, path: str
    ) -> CheckedRecipient | list[FieldViolation]:
        out = recipient_violations(recipient, path)
        if not recipient.id:
            out.append(FieldViolation(f"{path}.id", "is required"))
        elif len(recipient.id) > MAX_ID_LENGTH:
            out.append(FieldViolation(f"{path}.id", f"must be at most {MAX_ID_LENGTH} characters"))
        email = phone = ""
        skipped: list[SkippedAddress] = []
        if recipient.email:
            try:
                email = normalize_email(recipient.email)
            except ValueError as exc:
                reason = f"is not a valid email address: {exc}"
                if not self._skip_invalid:
                    out.append(FieldViolation(f"{path}.email", reason))
                elif self._email:
                    skipped.append(
                        SkippedAddress(
                            campaign_pb2.CHANNEL_EMAIL, recipient.email, reason, f"{path}.email"
                        )
                    )
        if recipient.phone:
            try:
                phone = normalize_phone(recipient.phone)
            except ValueError as exc:
                if not self._skip_invalid:
                    out.append(FieldViolation(f"{path}.phone", str(exc)))
                elif self._sms:
                    skipped.append(
                        SkippedAddress(
                            campaign_pb2.CHANNEL_SMS, recipient.phone, str(exc), f"{path}.phone"
                        )
                    )
        if (self._email or self._sms) and not (recipient.email or recipient.phone):
            wanted = " or ".join(
                n for n, on in (("an email", self._email), ("a phone", self._sms)) if on
            )
            out.append(FieldViolation(path, f"needs {wanted} for the enabled channels"))
        if recipient.timezone:
            try:
                zone(recipient.timezone)
            except ValueError:
                out.append(FieldViolation(f"{path}.timezone", "is not an IANA time zone"))
        if len(recipient.attributes) > MAX_ATTRIBUTES:
            out.append(FieldViolation(f"{path}.attributes", f"at most {MAX_ATTRIBUTES} attributes"))
        for key, value in recipient.attributes.items():
            if len(key.encode()) + len(value.encode()) > MAX_ATTRIBUTE_BYTES:
                out.append(
                    FieldViolation(
                        f"{path}.attributes[{key!r}]",
                        f"must be at most {MAX_ATTRIBUTE_BYTES} bytes",
                    )
                )
        if out:
            return out
        clean_recipient(recipient)
        return CheckedRecipient(recipient, email, phone, tuple(skipped))
