"""The cheap address paths answer exactly as email-validator and phonenumbers do.

``normalize_email`` and ``normalize_phone`` take cached shortcuts for common
addresses; ``normalize_email_full`` and ``normalize_phone_full`` are the
original checks, kept as the reference. Over varied input (valid and invalid,
Unicode and Punycode domains, upper case, white space, separators, numbers of
every region phonenumbers knows) both must accept the same addresses with the
same canonical form and refuse the same ones with the same message.
"""

from __future__ import annotations

from collections.abc import Callable

import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from brandcast.orchestrator import fast_addresses
from brandcast.orchestrator.fast_addresses import email_fast, phone_fast
from brandcast.orchestrator.validation import (
    RecipientChecker,
    normalize_email,
    normalize_email_full,
    normalize_phone,
    normalize_phone_full,
)
from brandcast.v1 import campaign_pb2
from tests.phone_examples import EXAMPLES, near_example_digits

PROPERTY = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(normalize: Callable[[str], str], value: str) -> tuple[str, str]:
    try:
        return ("valid", normalize(value))
    except ValueError as exc:
        return ("invalid", str(exc))


def assert_same(fast: Callable[[str], str], full: Callable[[str], str], value: str) -> None:
    assert outcome(fast, value) == outcome(full, value), value


# --- e-mail -------------------------------------------------------------------

DOMAINS = [
    "gmail.com",
    "Gmail.COM",
    "EXAMPLE.ORG",
    "mail.example.co.uk",
    "münchen.de",
    "MÜNCHEN.DE",
    "xn--mnchen-3ya.de",
    "XN--MNCHEN-3YA.DE",
    "例え.jp",
    "bücher.example",
    "ελλάδα.gr",
    "ﬁ.com",  # a ligature UTS #46 maps to "fi"
    "straße.de",
    "a.b",
    "localhost",
    "nodot",
    "foo.local",
    "x.invalid",
    "x.onion",
    "1.2.3.4",
    "[1.2.3.4]",
    "[IPv6:::1]",
    "-lead.com",
    "trail-.com",
    "a..b.com",
    ".a.com",
    "a.com.",
    "ab--cd.com",
    "xn--zz.com",
    "a_b.com",
    "a b.com",
    "a.com ",
    "",
    "a@b.com",
    "tld.123",
    "l" * 63 + ".com",
    "l" * 64 + ".com",
    ".".join(["abcdefghi"] * 26) + ".com",  # over 253 octets
    "x" * 240 + ".com",
    "\u200b.com",
    "ab\u0301c.com",
    "\u0301ab.com",
    "اختبار.مصر",
    "1.xn--4dbc.com",
]
LOCALS = st.one_of(
    st.from_regex(r"[A-Za-z0-9._%+-]{1,30}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{0,70}", fullmatch=True),
    st.sampled_from(
        [
            "John.Doe",
            "INFO",
            "Postmaster",
            "a",
            ".a",
            "a.",
            "a..b",
            " a",
            "a ",
            '"quoted"',
            '"with space"',
            "üser",
            "ü" * 70,
            "a\u0301",
            "name <x",
            "x" * 250,
        ]
    ),
    st.text(max_size=12),
)
ADDRESSES = st.one_of(
    st.builds(
        lambda pad1, local, at, domain, pad2: f"{pad1}{local}{at}{domain}{pad2}",
        st.sampled_from(["", "", "", " ", "\t"]),
        LOCALS,
        st.sampled_from(["@", "@", "@", "", "@@", "＠"]),
        st.one_of(st.sampled_from(DOMAINS), st.text(max_size=20)),
        st.sampled_from(["", "", "", " ", "\n"]),
    ),
    st.text(max_size=40),
)


@PROPERTY
@given(ADDRESSES)
@example("John.Doe@Gmail.COM")
@example("info@münchen.de")
@example("a" * 64 + "@" + "b" * 60 + "." + "c" * 60 + "." + "d" * 60 + ".com")
@example("Person <person@example.com>")
def test_an_email_address_is_judged_and_worded_as_email_validator_does(address: str) -> None:
    assert_same(normalize_email, normalize_email_full, address)
    fast = email_fast(address)
    assert fast is None or fast == normalize_email_full(address)


def test_an_email_address_on_a_cached_domain_is_judged_alike_cold_and_warm() -> None:
    addresses = [
        f"{local}@{domain}" for local in ("a", "Mixed.Case", "x" * 200) for domain in DOMAINS
    ]
    fast_addresses.clear_caches()
    cold = [outcome(normalize_email, a) for a in addresses]
    warm = [outcome(normalize_email, a) for a in addresses]
    assert cold == warm == [outcome(normalize_email_full, a) for a in addresses]


def test_common_addresses_take_the_cheap_path() -> None:
    # Without this the property above would hold with no speed-up at all.
    for address in ("John.Doe@Gmail.COM", "a+news@mail.example.co.uk", "x@münchen.de"):
        assert email_fast(address) == normalize_email_full(address)


def test_the_domain_cache_is_bounded() -> None:
    fast_addresses.clear_caches()
    for i in range(fast_addresses.DOMAIN_CACHE_SIZE + 100):
        email_fast(f"a@d{i}.com")
    assert fast_addresses._checked_domain.cache_info().currsize == fast_addresses.DOMAIN_CACHE_SIZE


# --- phone numbers ------------------------------------------------------------


@st.composite
def phone_numbers(draw: st.DrawFn) -> str:
    """Numbers near phonenumbers' examples, written as people type them."""
    digits = draw(near_example_digits())
    # Separators as people type them, anywhere.
    out = []
    for digit in digits:
        out.append(draw(st.sampled_from(["", "", "", " ", "-", ".", "(", ")", " (", ") "])))
        out.append(digit)
    text = draw(st.sampled_from(["+", "+", "+", "", "00", "++", "+ "])) + "".join(out)
    return text + draw(
        st.sampled_from(["", "", "", " ", "-", ")", " x12", " ext. 3", "#", ";ext=1"])
    )


PHONES = st.one_of(
    phone_numbers(),
    st.from_regex(r"\+[0-9 ().-]{0,24}", fullmatch=True),
    st.text(alphabet="+0123456789 -()./x#;٣", max_size=24),
    st.text(max_size=20),
)


@PROPERTY
@given(PHONES)
@example("+1 415 555 2671")
@example("+1 (613) 555-0123")
@example("+44 0 7911 123456")
@example("+375 8 105 123456")  # valid digits as given, but parsing strips the "8" of Belarus
@example("+39 06 6982 0000")
@example("+800 1234 5678")
@example("+1-800-FLOWERS")
@example("+49 30 1234567 ext. 5")
def test_a_phone_number_is_judged_and_worded_as_phonenumbers_does(number: str) -> None:
    assert_same(normalize_phone, normalize_phone_full, number)
    fast = phone_fast(number)
    assert fast is None or fast == normalize_phone_full(number)


@pytest.mark.parametrize("style", ["e164", "international", "digits changed"])
def test_every_regions_example_numbers_are_judged_alike(style: str) -> None:
    for e164 in EXAMPLES:
        number = e164
        if style == "international":
            parsed = phonenumbers.parse(e164, None)
            number = phonenumbers.format_number(
                parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL
            )
        elif style == "digits changed":
            number = e164[:-3] + str(999 - int(e164[-3:])).zfill(3)
        assert_same(normalize_phone, normalize_phone_full, number)


def test_nearly_every_regions_numbers_take_the_cheap_path() -> None:
    valid = [n for n in EXAMPLES if outcome(normalize_phone_full, n)[0] == "valid"]
    cheap = [n for n in valid if phone_fast(n) is not None]
    # Argentina's national prefix pattern matches the empty string: its numbers
    # take the full path, as does any plan where parsing may strip digits.
    assert len(cheap) >= 0.97 * len(valid)


# --- the intake's checker -----------------------------------------------------


def test_the_checker_reports_what_the_full_checks_say() -> None:
    channels = campaign_pb2.ChannelSettings()
    channels.email.enabled = channels.sms.enabled = True
    recipient = campaign_pb2.Recipient(id="r1", email="a@b", phone="+1 415 555 01")
    violations = RecipientChecker(channels).check(recipient, "spec.audience[0]")
    assert isinstance(violations, list)
    assert [(v.field, v.description) for v in violations] == [
        (
            "spec.audience[0].email",
            f"is not a valid email address: {outcome(normalize_email_full, 'a@b')[1]}",
        ),
        ("spec.audience[0].phone", outcome(normalize_phone_full, "+1 415 555 01")[1]),
    ]
    skipping = RecipientChecker(channels, skip_invalid=True).check(recipient, "spec.audience[0]")
    assert not isinstance(skipping, list)
    assert [s.reason for s in skipping.skipped] == [
        f"is not a valid email address: {outcome(normalize_email_full, 'a@b')[1]}",
        outcome(normalize_phone_full, "+1 415 555 01")[1],
    ]
