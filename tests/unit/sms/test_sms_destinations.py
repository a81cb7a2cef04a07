from __future__ import annotations

import random

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brandcast.sms import destinations
from brandcast.sms.destinations import INVALID_NUMBER, DestinationPolicy, RefusedDestinationError
from brandcast.sms.settings import DEFAULT_ALLOWED_COUNTRIES
from tests.phone_examples import CALLING_CODES, EXAMPLES

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


# --- the parse cache ------------------------------------------------------------

_ADDRESSES = st.one_of(
    st.builds(
        lambda code, digits: f"+{code}{digits}",
        st.sampled_from(CALLING_CODES),
        st.text(alphabet="0123456789", min_size=0, max_size=13),
    ),
    st.sampled_from(EXAMPLES),
    st.text(alphabet="+0123456789 ()-.xX", max_size=18),
    st.text(max_size=12),
)


def _answer(policy: DestinationPolicy, address: str) -> object:
    try:
        return policy.check(address)
    except RefusedDestinationError as exc:
        return (exc.code, exc.message, type(exc.__cause__))


def _uncached(policy: DestinationPolicy, address: str) -> object:
    destinations._parse.cache_clear()
    return _answer(policy, address)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(address=_ADDRESSES)
def test_a_cached_answer_is_the_policys_own_answer(address: str) -> None:
    """Answers from the cache equal a fresh parse, and the allow-list is never cached:
    an entry one policy filled gives another policy its own verdict."""
    only_gb = DestinationPolicy(["GB"])
    everywhere = DestinationPolicy(phonenumbers.SUPPORTED_REGIONS)
    fresh = [_uncached(policy, address) for policy in (POLICY, only_gb, everywhere)]
    destinations._parse.cache_clear()
    for _ in range(2):  # the first fills the cache, the second reads it
        assert [_answer(p, address) for p in (everywhere, only_gb, POLICY)] == fresh[::-1]


def test_an_unparsable_address_keeps_phonenumbers_reason_from_the_cache() -> None:
    for _ in range(2):
        with pytest.raises(RefusedDestinationError) as info:
            POLICY.check("+999")
        assert isinstance(info.value.__cause__, phonenumbers.NumberParseException)


# --- the cheap path for plain E.164 ---------------------------------------------
# ``plain_number`` itself is held to phonenumbers in tests/unit/shared/test_plain_numbers.py;
# here, the adapter's verdicts must not depend on whether it answered.

_PLAIN_ADDRESSES = st.builds(
    lambda code, digits: f"+{code}{digits}",
    st.sampled_from(CALLING_CODES),
    st.text(alphabet="0123456789", min_size=0, max_size=16),
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(address=st.one_of(_PLAIN_ADDRESSES, st.sampled_from(EXAMPLES), _ADDRESSES))
def test_a_verdict_is_the_same_by_either_path(address: str) -> None:
    """The destination, or the refusal and its wording, with the cheap path as without."""
    uncached = destinations._parse.__wrapped__
    assert _comparable(uncached(address)) == _comparable(destinations._parse_in_full(address))


def _comparable(verdict: object) -> object:
    # Two parse errors with the same wording are different exception objects.
    if isinstance(verdict, destinations._Invalid):
        return (verdict.message, type(verdict.cause), str(verdict.cause))
    return verdict
