"""A cheap path to what ``DestinationPolicy`` asks of a plainly written number, exact or silent.

``plain_number`` answers for an address written as ``+`` and ASCII digits (the
E.164 form the orchestrator normalises every phone number to) with what
``phonenumbers.parse``, ``region_code_for_number`` and ``number_type`` would
say, or ``None`` whenever it cannot be sure: then the caller runs phonenumbers
itself. A property test holds it to phonenumbers' answers
(``tests/unit/sms/test_sms_destinations.py``).

Where the time went (``bench/bench_worker_hot_path.py``: ~97 µs a number):
phonenumbers normalises the string character by character, extracts the
country code, then tries each number type's pattern through several layers of
calls, twice for a calling code shared by regions (once to find the region,
once for the type). Here the digits are split directly and each plan's
patterns are compiled and looked up once per calling code; the order and the
rules of the checks are phonenumbers' own (``_number_type_helper``,
``_region_code_for_number_from_list``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Final

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberType

#: ``+`` and ASCII digits only: anything else (spaces, letters, a second number)
#: is parsed by phonenumbers itself.
_PLAIN: Final = re.compile(r"\+[0-9]+")
#: phonenumbers' bounds: a calling code has at most 3 digits, and the national
#: significant number 2 to 17.
_MAX_CODE_DIGITS: Final = 3
_MIN_NSN: Final = 2
_MAX_NSN: Final = 17


@dataclass(frozen=True)
class PlainNumber:
    """What phonenumbers would make of the address."""

    region: str
    #: A ``PhoneNumberType`` value.
    kind: int
    country_code: int
    #: The national significant number (as ``national_significant_number``).
    national_number: str


@dataclass(frozen=True)
class _Desc:
    """One number description: ``_is_number_matching_desc`` with its pattern compiled."""

    lengths: frozenset[int]
    pattern: re.Pattern[str] | None

    def matches(self, nsn: str) -> bool:
        if self.pattern is None:
            return False
        if self.lengths and len(nsn) not in self.lengths:
            return False
        return self.pattern.fullmatch(nsn) is not None


_NO_DESC: Final = _Desc(frozenset(), None)


def _desc(desc: Any) -> _Desc:
    if desc is None or not desc.national_number_pattern:
        return _NO_DESC
    return _Desc(frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern))


@dataclass(frozen=True)
class _Types:
    """``_number_type_helper`` for one metadata."""

    general: _Desc
    #: The types tried before fixed line, in phonenumbers' order.
    ordered: tuple[tuple[int, _Desc], ...]
    fixed_line: _Desc
    mobile: _Desc
    same_mobile_and_fixed_line: bool

    @classmethod
    def of(cls, metadata: Any) -> _Types:
        ordered = (
            (PhoneNumberType.PREMIUM_RATE, metadata.premium_rate),
            (PhoneNumberType.TOLL_FREE, metadata.toll_free),
            (PhoneNumberType.SHARED_COST, metadata.shared_cost),
            (PhoneNumberType.VOIP, metadata.voip),
            (PhoneNumberType.PERSONAL_NUMBER, metadata.personal_number),
            (PhoneNumberType.PAGER, metadata.pager),
            (PhoneNumberType.UAN, metadata.uan),
            (PhoneNumberType.VOICEMAIL, metadata.voicemail),
        )
        return cls(
            general=_desc(metadata.general_desc),
            ordered=tuple((kind, _desc(desc)) for kind, desc in ordered),
            fixed_line=_desc(metadata.fixed_line),
            mobile=_desc(metadata.mobile),
            same_mobile_and_fixed_line=bool(metadata.same_mobile_and_fixed_line_pattern),
        )

    def kind(self, nsn: str) -> int:
        if not self.general.matches(nsn):
            return PhoneNumberType.UNKNOWN
        for kind, desc in self.ordered:
            if desc.matches(nsn):
                return kind
        if self.fixed_line.matches(nsn):
            if self.same_mobile_and_fixed_line or self.mobile.matches(nsn):
                return PhoneNumberType.FIXED_LINE_OR_MOBILE
            return PhoneNumberType.FIXED_LINE
        if not self.same_mobile_and_fixed_line and self.mobile.matches(nsn):
            return PhoneNumberType.MOBILE
        return PhoneNumberType.UNKNOWN


@dataclass(frozen=True)
class _Region:
    name: str
    #: The region's metadata read by name alone, as region_code_for_number does
    #: for a shared code (None: skipped), and its leading-digits pattern.
    by_name: _Types | None
    leading_digits: re.Pattern[str] | None
    #: The metadata number_type reads once the region is chosen (None: UNKNOWN).
    for_type: _Types | None
    #: Whether ``for_type`` is ``by_name``'s metadata: then a type worked out to
    #: choose the region is the number's type too.
    same_metadata: bool


@dataclass(frozen=True)
class _Plan:
    """What phonenumbers knows about one calling code, looked up once."""

    code: int
    #: ``national_prefix_for_parsing`` of the code's main region: where it matches,
    #: parse may strip digits, and this path steps aside.
    national_prefix: re.Pattern[str] | None
    regions: tuple[_Region, ...]


@functools.cache  # bounded: one per calling code (about 250)
def _plan(code: int) -> _Plan | None:
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code)
    main = PhoneMetadata.metadata_for_region_or_calling_code(
        code, phonenumbers.region_code_for_country_code(code)
    )
    if not regions or main is None:
        return None
    listed = []
    for name in regions:
        by_name = PhoneMetadata.metadata_for_region(name.upper(), None)
        leading = None
        if by_name is not None and by_name.leading_digits is not None:
            leading = re.compile(by_name.leading_digits)
        for_type = PhoneMetadata.metadata_for_region_or_calling_code(code, name)
        listed.append(
            _Region(
                name=name,
                by_name=None if by_name is None else _Types.of(by_name),
                leading_digits=leading,
                for_type=None if for_type is None else _Types.of(for_type),
                same_metadata=by_name is not None and for_type is by_name,
            )
        )
    prefix = main.national_prefix_for_parsing
    return _Plan(code, re.compile(prefix) if prefix else None, tuple(listed))


def _region(plan: _Plan, nsn: str) -> tuple[_Region | None, int | None]:
    """region_code_for_number: the only region, or the first of a shared code's
    whose leading digits match or, without leading digits, that gives a type
    (returned too, when it is the number's type: see ``_Region.same_metadata``)."""
    if len(plan.regions) == 1:
        return plan.regions[0], None
    for region in plan.regions:
        if region.by_name is None:
            continue
        if region.leading_digits is not None:
            if region.leading_digits.match(nsn):
                return region, None
            continue
        kind = region.by_name.kind(nsn)
        if kind != PhoneNumberType.UNKNOWN:
            return region, kind if region.same_metadata else None
    return None, None


def plain_number(address: str) -> PlainNumber | None:
    """What phonenumbers makes of ``address`` if it is ``+`` and digits, else None."""
    if not _PLAIN.fullmatch(address):
        return None
    digits = address[1:]
    if len(digits) <= _MIN_NSN or digits[0] == "0":
        return None  # too short after the +, or no calling code: parse says which
    # The shortest prefix that is a calling code, as parse takes it.
    for size in range(1, _MAX_CODE_DIGITS + 1):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    plan = _plan(code)
    nsn = digits[size:]
    if plan is None or not _MIN_NSN <= len(nsn) <= _MAX_NSN:
        return None
    if plan.national_prefix is not None and plan.national_prefix.match(nsn):
        return None
    # Leading zeros survive parsing (as "Italian" leading zeros), so the national
    # significant number is these digits as written.
    region, kind = _region(plan, nsn)
    if region is None:
        return None
    if kind is None:
        kind = PhoneNumberType.UNKNOWN if region.for_type is None else region.for_type.kind(nsn)
    return PlainNumber(region.name, kind, code, nsn)


__all__ = ["PlainNumber", "plain_number"]
