"""Audience CSV: column mapping and the validation report."""

from __future__ import annotations

import pytest

from brandcast.admin.audience import (
    AudienceError,
    guess_mapping,
    normalise_phone,
    read_csv,
    validate_audience,
)

CSV = (
    "Customer ID,E-mail,Mobile,First name,Locale,Timezone,favourite\n"
    "c1,alice@example.com,+1 415 555 0100,Alice,en-US,America/Los_Angeles,latte\n"
    "c2,not-an-email,,Bob,,,espresso\n"
    "c3,,0612345678,Chloé,fr,,mocha\n"
    "c4,dan@example.org,+33 6 12 34 56 78,Dan,fr-FR,Europe/Paris,flat white\n"
    "c5,,,Eve,,,tea\n"
    "c1,again@example.com,,Alice again,,,latte\n"
    "c7,gus@example.com,+999123,Gus,,,drip\n"
    "c8,hal@example.com,,Hal,,Mars/Olympus,drip\n"
    "c9,ivy@example.com\n"
    "\n"
    "c10,jo@example.com,,Jo,,,cold brew\n"
)


def test_report_counts_rows_accepted_and_rejected_by_reason() -> None:
    table = read_csv(CSV.encode())
    report = validate_audience(table, guess_mapping(table.headers))
    assert report.total_rows == 10  # the blank line is not a row
    assert report.accepted == 4
    assert report.rejected_count == 6
    assert dict(report.reasons) == {
        "invalid email": 1,
        "invalid phone": 1,
        "no email or phone": 1,
        "duplicate recipient": 1,
        "invalid time zone": 1,
        "wrong number of columns": 1,
    }
    lines = {r.line: r for r in report.rejected}
    assert lines[3].reason == "invalid email"
    assert "not in E.164 format" in lines[4].detail
    assert "already on line 2" in lines[7].detail


def test_one_invalid_address_skips_that_channel_not_the_row() -> None:
    table = read_csv(CSV.encode())
    report = validate_audience(table, guess_mapping(table.headers))
    gus = next(r for r in report.recipients if r.id == "c7")
    # The valid email goes ahead; the bad number is kept as given so the
    # orchestrator records the SMS as skipped (skip_invalid_addresses).
    assert (gus.email, gus.phone) == ("gus@example.com", "+999123")
    (skipped,) = report.skipped
    assert (skipped.line, skipped.channel, skipped.address) == (8, "sms", "+999123")
    assert skipped.reason
    payload = report.as_json()
    assert payload["skipped"] == {"sms": 1}
    assert payload["skipped_rows"] == [
        {"line": 8, "channel": "sms", "address": "+999123", "reason": skipped.reason}
    ]


def test_accepted_recipients_are_normalised_and_keep_extra_columns() -> None:
    table = read_csv(CSV.encode())
    report = validate_audience(table, guess_mapping(table.headers))
    alice, dan, _gus, jo = report.recipients
    assert (alice.id, alice.email, alice.phone) == ("c1", "alice@example.com", "+14155550100")
    assert alice.timezone == "America/Los_Angeles"
    assert alice.attributes["favourite"] == "latte"
    assert dan.phone == "+33612345678"
    assert jo.phone == ""
    assert report.without_phone == 1
    assert report.as_json()["rejected"] == 6


def test_mapping_is_guessed_from_common_header_names() -> None:
    headers = ["Customer ID", "E-mail", "Mobile", "First name", "Locale", "Timezone", "x"]
    assert guess_mapping(headers) == {
        "id": "Customer ID",
        "email": "E-mail",
        "phone": "Mobile",
        "name": "First name",
        "locale": "Locale",
        "timezone": "Timezone",
    }


def test_explicit_mapping_wins_and_unknown_columns_are_named() -> None:
    table = read_csv(b"contact;number\nzoe@example.com;+447911123456\n")
    assert table.headers == ["contact", "number"]  # semicolons detected
    report = validate_audience(table, {"email": "contact", "phone": "number"})
    assert report.recipients[0].email == "zoe@example.com"
    assert report.recipients[0].phone == "+447911123456"
    with pytest.raises(AudienceError, match="map_email: the file has no column named 'mail'"):
        validate_audience(table, {"email": "mail"})


def test_a_mapping_without_any_address_column_is_refused() -> None:
    table = read_csv(b"name\nAlice\n")
    with pytest.raises(AudienceError, match="map an email or a phone column"):
        validate_audience(table, {"name": "name"})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"email\n\xff\xfe", "not UTF-8"),
        (b"email,email\na@example.com,b@example.com\n", "repeated: email"),
    ],
)
def test_unusable_files_say_why(data: bytes, message: str) -> None:
    with pytest.raises(AudienceError, match=message):
        read_csv(data)


def test_a_byte_order_mark_is_not_part_of_the_first_header() -> None:
    table = read_csv("\ufeffemail\nann@example.com\n".encode())
    assert table.headers == ["email"]


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("4155550100", "E.164"),
        ("+1 415", "not a valid number"),
        ("+hello", "not a phone number"),
    ],
)
def test_phone_numbers_must_be_valid_e164(number: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalise_phone(number)
