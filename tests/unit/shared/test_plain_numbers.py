"""``plain_numbers`` answers exactly as phonenumbers does, or not at all.

phonenumbers is the oracle: for numbers of every plan it knows (each region's
example of each type, the same with digits changed, dropped or added, random
digits after every calling code, and text that is no number) the cheap path is
silent or gives phonenumbers' region, type, calling code, national number,
validity and E.164 form. The callers' own tests hold their use of it to the same
oracle (tests/unit/orchestrator/test_orchestrator_fast_addresses.py,
tests/unit/sms/test_sms_destinations.py).
"""

from __future__ import annotations

from types import SimpleNamespace

import phonenumbers
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType

from brandcast.shared import plain_numbers
from brandcast.shared.plain_numbers import PlainNumber, e164_if_valid, plain_number
from tests.phone_examples import CALLING_CODES, EXAMPLES, near_example_digits, neighbours

PROPERTY = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parsed(address: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(address, None)
    except phonenumbers.NumberParseException:
        return None


def _oracle_number(address: str) -> PlainNumber | None:
    number = _parsed(address)
    if number is None:
        return None
    return PlainNumber(
        region=phonenumbers.region_code_for_number(number) or "",
        kind=phonenumbers.number_type(number),
        country_code=number.country_code or 0,
        national_number=phonenumbers.national_significant_number(number),
    )


def _oracle_valid(address: str) -> str | None:
    number = _parsed(address)
    return None if number is None or not phonenumbers.is_valid_number(number) else _e164(number)


def _assert_as_phonenumbers(address: str) -> tuple[bool, bool]:
    """Both cheap answers are silent or phonenumbers' own; which of them answered."""
    fast = plain_number(address)
    if fast is not None:
        assert fast == _oracle_number(address), address
        assert f"+{fast.country_code}{fast.national_number}" == _e164(
            phonenumbers.parse(address, None)
        ), address
    valid = None
    if address[:1] == "+" and address[1:].isascii() and address[1:].isdigit():
        valid = e164_if_valid(address[1:])
        assert valid is None or valid == _oracle_valid(address), address
    return fast is not None, valid is not None


@st.composite
def near_examples(draw: st.DrawFn) -> str:
    return "+" + "".join(draw(near_example_digits()))


ADDRESSES = st.one_of(
    near_examples(),
    st.sampled_from(EXAMPLES),
    st.builds(
        lambda code, digits: f"+{code}{digits}",
        st.sampled_from(CALLING_CODES),
        st.text(alphabet="0123456789", max_size=18),
    ),
    st.from_regex(r"\+[0-9]{0,21}", fullmatch=True),
    st.text(alphabet="+0123456789 ()-.x٣", max_size=20),
    st.text(max_size=12),
)


@PROPERTY
@given(ADDRESSES)
@example("+447400123456")  # GB shares +44 with GG, IM and JE
@example("+447781123456")  # GG
@example("+14165550123")  # CA shares +1 with the US
@example("+390669812345")  # VA inside IT's +39
@example("+375810512345")  # parsing strips the "8" of Belarus
@example("+80012345678")  # non-geographic
@example("+449001234567")  # premium rate
@example("+4407911123456")
def test_the_cheap_answers_are_phonenumbers_answers(address: str) -> None:
    _assert_as_phonenumbers(address)


def test_every_example_and_its_neighbours_agree_and_most_are_answered() -> None:
    near = neighbours(EXAMPLES, seed=5)
    answered = [_assert_as_phonenumbers(address) for address in EXAMPLES + near]
    # Silent only where parsing might strip a national prefix (Argentina's pattern
    # matches the empty string), or the number has no region.
    assert sum(number for number, _ in answered) > 0.9 * len(answered)
    valid = [a for a in EXAMPLES if _oracle_valid(a) is not None]
    assert sum(e164_if_valid(a[1:]) is not None for a in valid) >= 0.97 * len(valid)


def test_answers_are_the_same_cold_and_warm() -> None:
    addresses = EXAMPLES[::7]
    plain_numbers.clear_caches()
    cold = [(plain_number(a), e164_if_valid(a[1:])) for a in addresses]
    warm = [(plain_number(a), e164_if_valid(a[1:])) for a in addresses]
    assert cold == warm


def test_patterns_with_back_references_are_not_joined() -> None:
    # Joined, "(\d)\1" would refer to another alternative's group and match other numbers.
    def desc(pattern: str | None) -> SimpleNamespace:
        return SimpleNamespace(national_number_pattern=pattern, possible_length=(4,))

    metadata = SimpleNamespace(
        general_desc=desc(r"\d{4}"),
        premium_rate=desc(r"(9)\d\d\d"),
        toll_free=desc(r"1(\d)\1\d"),
        shared_cost=None,
        voip=desc(None),
        personal_number=None,
        pager=None,
        uan=None,
        voicemail=None,
        fixed_line=desc(r"5\d{3}"),
        mobile=desc(r"6\d{3}"),
        same_mobile_and_fixed_line_pattern=False,
    )
    types = plain_numbers._Types(metadata)
    numbers = ("9123", "1223", "1233", "6000", "5000")
    assert [types.has_type(n) for n in numbers] == [True, True, False, True, True]
    assert [types.kind(n) for n in numbers] == [
        PhoneNumberType.PREMIUM_RATE,
        PhoneNumberType.TOLL_FREE,
        PhoneNumberType.UNKNOWN,
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE,
    ]
    assert len(types._for(4).any_type) == 4
