from __future__ import annotations

import random

import phonenumbers
import pytest

from brandcast.sms.destinations import INVALID_NUMBER, DestinationPolicy, RefusedDestinationError
from brandcast.sms.settings import DEFAULT_ALLOWED_COUNTRIES

POLICY = DestinationPolicy(DEFAULT_ALLOWED_COUNTRIES)


@pytest.mark.parametrize(
    ("address", "code"),
    [
        ("+449001234567", "premium_rate"),  # UK 09 premium rate
        ("+19005550123", "premium_rate"),  # US 900
        ("+33899123456", "premium_rate"),  # FR 089
        ("+448431234567", "premium_rate"),  # UK 0843, phonenumbers: premium
        ("+18005550199", "premium_rate"),  # toll-free as a destination
        ("+442071234567", "landline"),  # London fixed line
        ("+33140000000", "landline"),
        ("+79161234567", "country_not_allowed"),  # RU mobile
        ("+2348031234567", "country_not_allowed"),  # NG mobile
        ("+447911123456", "country_not_allowed"),  # Guernsey shares +44 but is GG
        ("+15555555555", "invalid_number"),
        ("+1202555012", "invalid_number"),
        ("447400123456", "invalid_number"),  # no leading +
        ("not a number", "invalid_number"),
        ("", "invalid_number"),
    ],
)
def test_refused_destinations_name_their_reason(address: str, code: str) -> None:
    with pytest.raises(RefusedDestinationError) as info:
        POLICY.check(address)
    assert info.value.code == code
    assert info.value.message.startswith("address:")


def test_the_test_numbers_are_what_phonenumbers_says() -> None:
    # Guard the table above against a phonenumbers metadata update.
    kind = phonenumbers.number_type(phonenumbers.parse("+449001234567"))
    assert kind == phonenumbers.PhoneNumberType.PREMIUM_RATE
    kind = phonenumbers.number_type(phonenumbers.parse("+442071234567"))
    assert kind == phonenumbers.PhoneNumberType.FIXED_LINE


@pytest.mark.parametrize(
    ("address", "e164", "region"),
    [
        ("+447400123456", "+447400123456", "GB"),
        ("+44 7400 123456", "+447400123456", "GB"),
        ("+1 (212) 555-0123", "+12125550123", "US"),  # FIXED_LINE_OR_MOBILE is allowed
        ("+14165550123", "+14165550123", "CA"),
        ("+33612345678", "+33612345678", "FR"),
        ("+4915112345678", "+4915112345678", "DE"),
        ("+353851234567", "+353851234567", "IE"),
    ],
)
def test_mobile_numbers_in_allowed_countries_pass(address: str, e164: str, region: str) -> None:
    destination = POLICY.check(address)
    assert destination.e164 == e164
    assert destination.region == region


def test_allow_list_is_configurable() -> None:
    only_gb = DestinationPolicy(["gb"])
    assert only_gb.check("+447400123456").region == "GB"
    with pytest.raises(RefusedDestinationError, match="FR"):
        only_gb.check("+33612345678")


def test_prefix_is_country_code_and_first_national_digits() -> None:
    destination = POLICY.check("+447400123456")
    assert destination.prefix(3) == "44740"
    assert destination.prefix(0) == "44"


def test_validity_is_what_is_valid_number_says() -> None:
    """check() infers is_valid_number() from region and type; the two never disagree."""
    rng = random.Random(11)
    policy = DestinationPolicy(phonenumbers.SUPPORTED_REGIONS)
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    random_numbers = [f"+{rng.choice(codes)}{rng.randrange(10**5, 10**11)}" for _ in range(5_000)]
    examples = [
        phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
        for kind in phonenumbers.PhoneNumberType.values()
        if (example := phonenumbers.example_number_for_type(region, kind)) is not None
    ]
    for address in random_numbers + examples:
        try:
            number = phonenumbers.parse(address, None)
        except phonenumbers.NumberParseException:
            continue
        try:
            policy.check(address)
            refused_as_invalid = False
        except RefusedDestinationError as exc:
            refused_as_invalid = exc.code == INVALID_NUMBER
        assert refused_as_invalid == (not phonenumbers.is_valid_number(number)), address
