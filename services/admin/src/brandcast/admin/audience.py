"""Audience CSV upload: read the header, map columns to recipient fields, validate
every row (emails with email-validator, phones as E.164 with phonenumbers) and
report how many rows were rejected and why.

A row with one invalid address and one valid one is kept: the invalid address
is listed as skipped (per channel, with the reason) and sent as given, so the
orchestrator records that channel's delivery as SKIPPED while the other channel
goes ahead (``skip_invalid_addresses``). Only a row with no usable address at
all is rejected.
"""

from __future__ import annotations

import csv
import io
import re
import zoneinfo
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from brandcast.v1 import campaign_pb2

#: Recipient fields a CSV column can be mapped to; other columns become attributes.
RECIPIENT_FIELDS = ("id", "email", "phone", "name", "locale", "timezone", "segment")

# Header spellings recognised when guessing the mapping (lower-case, no separators).
_HEADER_GUESSES: dict[str, tuple[str, ...]] = {
    "id": ("id", "recipientid", "customerid", "userid", "externalid"),
    "email": ("email", "emailaddress", "mail", "courriel"),
    "phone": ("phone", "phonenumber", "mobile", "mobilephone", "msisdn", "cell", "tel"),
    "name": ("name", "fullname", "firstname", "displayname"),
    "locale": ("locale", "language", "lang"),
    "timezone": ("timezone", "tz", "timezonename"),
    "segment": ("segment", "group", "tier"),
}

#: How many rejected rows the report lists one by one.
REJECTED_ROWS_SHOWN = 50


class AudienceError(ValueError):
    """The file as a whole cannot be used; the message says why."""


@dataclass(frozen=True)
class CsvTable:
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class RejectedRow:
    #: 1-based line in the file, the header being line 1.
    line: int
    reason: str
    detail: str


@dataclass(frozen=True)
class SkippedAddress:
    line: int
    #: "email" or "sms".
    channel: str
    address: str
    reason: str


@dataclass
class AudienceReport:
    total_rows: int = 0
    recipients: list[campaign_pb2.Recipient] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    without_email: int = 0
    without_phone: int = 0
    #: Invalid addresses of kept rows (the first ``REJECTED_ROWS_SHOWN``).
    skipped: list[SkippedAddress] = field(default_factory=list)
    skipped_by_channel: Counter[str] = field(default_factory=Counter)

    @property
    def accepted(self) -> int:
        return len(self.recipients)

    @property
    def rejected_count(self) -> int:
        return sum(self.reasons.values())

    def as_json(self) -> dict[str, object]:
        return {
            "total_rows": self.total_rows,
            "accepted": self.accepted,
            "rejected": self.rejected_count,
            "reasons": dict(self.reasons.most_common()),
            "rejected_rows": [
                {"line": r.line, "reason": r.reason, "detail": r.detail} for r in self.rejected
            ],
            "without_email": self.without_email,
            "without_phone": self.without_phone,
            "skipped": dict(self.skipped_by_channel),
            "skipped_total": sum(self.skipped_by_channel.values()),
            "skipped_rows": [
                {"line": s.line, "channel": s.channel, "address": s.address, "reason": s.reason}
                for s in self.skipped
            ],
        }


def read_csv(data: bytes) -> CsvTable:
    """Decode (UTF-8, BOM tolerated), detect the delimiter and split into header and rows."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AudienceError(
            f"the file is not UTF-8 text (byte {exc.start}); export the CSV as UTF-8"
        ) from exc
    if not text.strip():
        raise AudienceError("the file is empty")
    sample = text[:8192]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        lines = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise AudienceError(f"the file is not valid CSV: {exc}") from exc
    headers = [h.strip() for h in lines[0]] if lines else []
    if not any(headers):
        raise AudienceError("the first line must name the columns")
    duplicates = [h for h, n in Counter(headers).items() if n > 1 and h]
    if duplicates:
        raise AudienceError(f"column names must be unique; repeated: {', '.join(duplicates)}")
    return CsvTable(headers=headers, rows=lines[1:])


def guess_mapping(headers: list[str]) -> dict[str, str]:
    """Recipient field -> column for the columns whose name makes it obvious."""
    normalised = {re.sub(r"[^a-z0-9]", "", h.lower()): h for h in headers}
    mapping: dict[str, str] = {}
    for target, spellings in _HEADER_GUESSES.items():
        for spelling in spellings:
            if spelling in normalised:
                mapping[target] = normalised[spelling]
                break
    return mapping


def check_mapping(mapping: Mapping[str, str], headers: list[str]) -> dict[str, str]:
    """Keep the mapped fields, rejecting unknown fields or columns by name."""
    clean: dict[str, str] = {}
    for target, column in mapping.items():
        if not column:
            continue
        if target not in RECIPIENT_FIELDS:
            raise AudienceError(f"map_{target}: not a recipient field")
        if column not in headers:
            raise AudienceError(f"map_{target}: the file has no column named {column!r}")
        clean[target] = column
    if "email" not in clean and "phone" not in clean:
        raise AudienceError("map an email or a phone column: recipients need an address")
    return clean


def normalise_email(value: str) -> str:
    """The normalised address, or EmailNotValidError with a readable reason."""
    return validate_email(value, check_deliverability=False).normalized


def normalise_phone(value: str) -> str:
    """The E.164 form of an international number, or ValueError saying why not."""
    if not value.startswith("+"):
        raise ValueError("not in E.164 format: start with + and the country code")
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        # str() starts with the library's numeric error type, e.g. "(1) ...".
        reason = re.sub(r"^\(\d+\)\s*", "", str(exc))
        raise ValueError(f"not a phone number: {reason}") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid number for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class _RowRejectedError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def _recipient(
    row: dict[str, str], mapping: dict[str, str], headers: list[str]
) -> tuple[campaign_pb2.Recipient, list[tuple[str, str, str]]]:
    """The row's recipient and its skipped addresses ``(channel, address, reason)``."""

    def value(target: str) -> str:
        column = mapping.get(target)
        return row.get(column, "").strip() if column else ""

    email, phone = value("email"), value("phone")
    if not email and not phone:
        raise _RowRejectedError("no email or phone", "both address columns are empty")
    problems: dict[str, tuple[str, str]] = {}
    if email:
        try:
            email = normalise_email(email)
        except EmailNotValidError as exc:
            problems["email"] = (email, str(exc))
    if phone:
        try:
            phone = normalise_phone(phone)
        except ValueError as exc:
            problems["sms"] = (phone, str(exc))
    if len(problems) == bool(email) + bool(phone):
        # Nothing left to send to: the row is rejected, as before.
        channel, (address, reason) = next(iter(problems.items()))
        kind = "invalid email" if channel == "email" else "invalid phone"
        raise _RowRejectedError(kind, f"{address}: {reason}")
    skipped = [(channel, address, reason) for channel, (address, reason) in problems.items()]
    timezone = value("timezone")
    if timezone and timezone not in zoneinfo.available_timezones():
        raise _RowRejectedError("invalid time zone", f"{timezone}: not an IANA time zone name")
    mapped_columns = set(mapping.values())
    recipient = campaign_pb2.Recipient(
        # Without an id column, the first valid address names the recipient.
        id=value("id") or (email if email and "email" not in problems else phone),
        email=email,
        phone=phone,
        name=value("name"),
        locale=value("locale"),
        timezone=timezone,
        segment=value("segment"),
        attributes={h: row.get(h, "") for h in headers if h and h not in mapped_columns},
    )
    return recipient, skipped


def validate_audience(table: CsvTable, mapping: Mapping[str, str]) -> AudienceReport:
    """Every row checked; valid ones become recipients, the others are counted by reason."""
    clean = check_mapping(mapping, table.headers)
    report = AudienceReport()
    first_line_of: dict[str, int] = {}
    for line, cells in enumerate(table.rows, start=2):
        if not any(c.strip() for c in cells):
            continue  # blank lines are not rows
        report.total_rows += 1
        try:
            if len(cells) != len(table.headers):
                raise _RowRejectedError(
                    "wrong number of columns",
                    f"{len(cells)} values for {len(table.headers)} columns",
                )
            recipient, skipped = _recipient(
                dict(zip(table.headers, cells, strict=True)), clean, table.headers
            )
            if recipient.id in first_line_of:
                raise _RowRejectedError(
                    "duplicate recipient",
                    f"{recipient.id} already on line {first_line_of[recipient.id]}",
                )
        except _RowRejectedError as rejected:
            report.reasons[rejected.reason] += 1
            if len(report.rejected) < REJECTED_ROWS_SHOWN:
                report.rejected.append(RejectedRow(line, rejected.reason, rejected.detail))
            continue
        first_line_of[recipient.id] = line
        for channel, address, reason in skipped:
            report.skipped_by_channel[channel] += 1
            if len(report.skipped) < REJECTED_ROWS_SHOWN:
                report.skipped.append(SkippedAddress(line, channel, address, reason))
        report.without_email += not recipient.email
        report.without_phone += not recipient.phone
        report.recipients.append(recipient)
    return report
