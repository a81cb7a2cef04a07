"""Phone numbers to hold our cheap paths to phonenumbers with: its own examples and
numbers near them.

Shared by the property tests of ``brandcast.shared.plain_numbers`` and of its two
callers (the orchestrator's submit check, the SMS adapter's destination check).
"""

from __future__ import annotations

import random
from collections.abc import Iterable

import phonenumbers
from hypothesis import strategies as st

#: Every calling code phonenumbers has a plan for.
CALLING_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


#: phonenumbers' example of each number type of every region and non-geographic
#: code, in E.164.
EXAMPLES = sorted(
    {
        _e164(number)
        for region in phonenumbers.SUPPORTED_REGIONS
        for kind in phonenumbers.PhoneNumberType.values()
        if (number := phonenumbers.example_number_for_type(region, kind)) is not None
    }
    | {
        _e164(number)
        for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
        if (number := phonenumbers.example_number_for_non_geo_entity(code)) is not None
    }
)


@st.composite
def near_example_digits(draw: st.DrawFn) -> list[str]:
    """The digits of another number of an example's plan (no "+"): a few digits
    changed, dropped or added, sometimes with a national prefix after the
    calling code ("+44 0 20 ...")."""
    digits = list(draw(st.sampled_from(EXAMPLES))[1:])
    for _ in range(draw(st.integers(0, 3))):
        position = draw(st.integers(0, len(digits)))
        action = draw(st.sampled_from(["change", "change", "drop", "add"]))
        digit = draw(st.sampled_from("0123456789"))
        if action == "add" or position == len(digits):
            digits.insert(position, digit)
        elif action == "change":
            digits[position] = digit
        elif len(digits) > 1:
            del digits[position]
    if draw(st.booleans()):
        digits.insert(draw(st.integers(1, 3)), draw(st.sampled_from(["0", "1", "00", "8", "15"])))
    return digits


def neighbours(addresses: Iterable[str], seed: int) -> list[str]:
    """Each address with its last digit, and then one other digit, changed."""
    rng = random.Random(seed)
    return [
        address[:i] + rng.choice("0123456789") + address[i + 1 :]
        for address in addresses
        for i in (len(address) - 1, rng.randrange(2, len(address)))
    ]
