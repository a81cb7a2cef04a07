"""phonenumbers' answers for a plainly written number, without its parser: exact or silent.

A number written as ``+`` and ASCII digits (E.164, the form people and the
orchestrator mostly use) is split directly into calling code and national
significant number, and judged against the numbering plan's patterns, compiled
once per calling code and number length from phonenumbers' own metadata, in
phonenumbers' order and by its rules (``_number_type_helper``,
``_region_code_for_number_from_list``, ``is_valid_number_for_region``). Whenever
parsing might read the digits otherwise (a national prefix it could strip, no
calling code, a length it refuses) the answer is ``None``, and the caller asks
phonenumbers itself, which also words every refusal.

Why: phonenumbers normalises the string character by character, extracts the
calling code, then tries each number type's pattern through several layers of
calls, twice for a calling code shared by regions (once to choose the region,
once for the type or validity): ~100 µs a number, against ~10-20 µs here.

Two callers: the orchestrator's intake (``e164_if_valid``: is_valid_number and
the E.164 form) and the SMS adapter's destination policy (``plain_number``:
region and number type). ``tests/unit/shared/test_plain_numbers.py`` holds both
to phonenumbers' answers.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Final

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberType

#: ``+`` and ASCII digits only: anything else (spaces, letters, a second number)
#: is the caller's to clean up or to leave to phonenumbers.
_PLAIN: Final = re.compile(r"\+[0-9]+")
#: phonenumbers' bounds: a calling code has at most 3 digits, and the national
#: significant number 2 to 17.
_MAX_CODE_DIGITS: Final = 3
_MIN_NSN: Final = 2
_MAX_NSN: Final = 17
#: The region phonenumbers gives a non-geographic calling code (+800, +882...).
_NON_GEO: Final = "001"
#: A back reference or a conditional group: patterns holding one are not joined.
_REFERS_TO_GROUP: Final = re.compile(r"\\[1-9]|\(\?P=|\(\?\(")


@dataclass(frozen=True)
class PlainNumber:
    """What phonenumbers makes of the number."""

    #: ``region_code_for_number`` (never empty here: no region, no answer).
    region: str
    #: ``number_type``: a ``PhoneNumberType`` value.
    kind: int
    country_code: int
    #: ``national_significant_number``.
    national_number: str


def plain_number(address: str) -> PlainNumber | None:
    """What phonenumbers makes of ``address`` if it is ``+`` and digits, else None."""
    if not _PLAIN.fullmatch(address):
        return None
    split = _split(address[1:])
    if split is None:
        return None
    plan, nsn = split
    region = _region(plan, nsn)
    if region is None:
        return None
    kind = PhoneNumberType.UNKNOWN if region.for_type is None else region.for_type.kind(nsn)
    return PlainNumber(region.name, kind, plan.code, nsn)


def e164_if_valid(digits: str) -> str | None:
    """``+digits`` in E.164 if phonenumbers would parse it as written and call it valid
    (``is_valid_number``), else None. ``digits``: ASCII digits only, the caller's check."""
    split = _split(digits)
    if split is None:
        return None
    plan, nsn = split
    region = _region(plan, nsn)
    if region is None or not region.has_code or region.for_type is None:
        return None
    return f"+{plan.code}{nsn}" if region.for_type.has_type(nsn) else None


def clear_caches() -> None:
    """Forget every compiled plan (benchmarks start cold; tests start clean)."""
    _plan.cache_clear()


# --- numbering plans ------------------------------------------------------------


@dataclass(frozen=True)
class _Desc:
    """One number description: what ``_is_number_matching_desc`` reads of it."""

    lengths: frozenset[int]
    pattern: str | None

    def source(self, length: int) -> str | None:
        """The pattern, if a national number of ``length`` digits can match it."""
        if self.lengths and length not in self.lengths:
            return None
        return self.pattern


_NO_DESC: Final = _Desc(frozenset(), None)


def _desc(desc: Any) -> _Desc:
    if desc is None or not desc.national_number_pattern:
        return _NO_DESC
    return _Desc(frozenset(desc.possible_length or ()), desc.national_number_pattern)


@dataclass(frozen=True)
class _ForLength:
    """One metadata's patterns that can match a national number of one length."""

    general: re.Pattern[str] | None
    #: The types tried before fixed line, in phonenumbers' order.
    ordered: tuple[tuple[int, re.Pattern[str]], ...]
    fixed_line: re.Pattern[str] | None
    #: None too when mobile shares fixed line's pattern (then it is never tried alone).
    mobile: re.Pattern[str] | None
    same_mobile_and_fixed_line: bool
    #: Every type's pattern, joined into one expression where that is safe: validity
    #: needs only "some type matches", not which.
    any_type: tuple[re.Pattern[str], ...]

    def kind(self, nsn: str) -> int:
        if self.general is None or not self.general.fullmatch(nsn):
            return PhoneNumberType.UNKNOWN
        for kind, pattern in self.ordered:
            if pattern.fullmatch(nsn):
                return kind
        if self.fixed_line is not None and self.fixed_line.fullmatch(nsn):
            if self.same_mobile_and_fixed_line or (
                self.mobile is not None and self.mobile.fullmatch(nsn)
            ):
                return PhoneNumberType.FIXED_LINE_OR_MOBILE
            return PhoneNumberType.FIXED_LINE
        if self.mobile is not None and self.mobile.fullmatch(nsn):
            return PhoneNumberType.MOBILE
        return PhoneNumberType.UNKNOWN

    def has_type(self, nsn: str) -> bool:
        """``kind(nsn) != UNKNOWN``, by fewer expressions."""
        general = self.general
        return bool(
            general is not None
            and general.fullmatch(nsn)
            and any(t.fullmatch(nsn) for t in self.any_type)
        )


def _compiled(source: str | None) -> re.Pattern[str] | None:
    return None if source is None else re.compile(source)


def _joined(sources: list[str]) -> tuple[re.Pattern[str], ...]:
    if not sources:
        return ()
    try:
        if any(_REFERS_TO_GROUP.search(s) for s in sources):
            # Joined, a numbered back reference would point at another group.
            raise re.error("back reference")
        return (re.compile("|".join(f"(?:{s})" for s in sources)),)
    except re.error:  # or group names clashing: one expression each then
        return tuple(re.compile(s) for s in sources)


class _Types:
    """``_number_type_helper`` for one metadata, compiled per length on first use."""

    def __init__(self, metadata: Any) -> None:
        self._general = _desc(metadata.general_desc)
        self._ordered = (
            (PhoneNumberType.PREMIUM_RATE, _desc(metadata.premium_rate)),
            (PhoneNumberType.TOLL_FREE, _desc(metadata.toll_free)),
            (PhoneNumberType.SHARED_COST, _desc(metadata.shared_cost)),
            (PhoneNumberType.VOIP, _desc(metadata.voip)),
            (PhoneNumberType.PERSONAL_NUMBER, _desc(metadata.personal_number)),
            (PhoneNumberType.PAGER, _desc(metadata.pager)),
            (PhoneNumberType.UAN, _desc(metadata.uan)),
            (PhoneNumberType.VOICEMAIL, _desc(metadata.voicemail)),
        )
        self._fixed_line = _desc(metadata.fixed_line)
        self._same_mobile_and_fixed_line = bool(metadata.same_mobile_and_fixed_line_pattern)
        self._mobile = _NO_DESC if self._same_mobile_and_fixed_line else _desc(metadata.mobile)
        # Bounded: one entry per length tried, at most _MAX_NSN - _MIN_NSN + 1.
        self._by_length: dict[int, _ForLength] = {}

    def kind(self, nsn: str) -> int:
        return self._for(len(nsn)).kind(nsn)

    def has_type(self, nsn: str) -> bool:
        return self._for(len(nsn)).has_type(nsn)

    def _for(self, length: int) -> _ForLength:
        found = self._by_length.get(length)
        if found is None:
            found = self._by_length[length] = self._compile(length)
        return found

    def _compile(self, length: int) -> _ForLength:
        ordered = [(kind, desc.source(length)) for kind, desc in self._ordered]
        fixed_line = self._fixed_line.source(length)
        mobile = self._mobile.source(length)
        every = [source for _, source in ordered] + [fixed_line, mobile]
        return _ForLength(
            general=_compiled(self._general.source(length)),
            ordered=tuple((kind, re.compile(s)) for kind, s in ordered if s is not None),
            fixed_line=_compiled(fixed_line),
            mobile=_compiled(mobile),
            same_mobile_and_fixed_line=self._same_mobile_and_fixed_line,
            any_type=_joined([s for s in every if s is not None]),
        )


@dataclass(frozen=True)
class _Region:
    name: str
    #: The region's metadata read by name alone, as region_code_for_number does for
    #: a shared code (None: skipped), and its leading-digits pattern.
    by_name: _Types | None
    leading_digits: re.Pattern[str] | None
    #: The metadata number_type and is_valid_number read once the region is chosen
    #: (None: UNKNOWN, invalid).
    for_type: _Types | None
    #: is_valid_number's check that the region's own calling code is the number's
    #: (country_code_for_valid_region; the non-geographic region has none).
    has_code: bool


@dataclass(frozen=True)
class _Plan:
    """What phonenumbers knows about one calling code, looked up once."""

    code: int
    #: ``national_prefix_for_parsing`` of the code's main region: where it matches,
    #: parse may strip digits, and this path steps aside.
    national_prefix: re.Pattern[str] | None
    #: The code's regions in phonenumbers' order.
    regions: tuple[_Region, ...]


@functools.cache  # bounded: one per calling code (about 250)
def _plan(code: int) -> _Plan | None:
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code)
    if not regions:
        return None
    # As parse does: the metadata of the code's main region (or the non-geographic one).
    main = PhoneMetadata.metadata_for_region_or_calling_code(
        code, phonenumbers.region_code_for_country_code(code)
    )
    if main is None:
        return None
    listed = []
    for name in regions:
        by_name = PhoneMetadata.metadata_for_region(name.upper(), None)
        by_name_types = None if by_name is None else _Types(by_name)
        leading = None
        if by_name is not None and by_name.leading_digits is not None:
            leading = re.compile(by_name.leading_digits)
        for_type = PhoneMetadata.metadata_for_region_or_calling_code(code, name.upper())
        if for_type is None:
            for_type_types = None
        elif for_type is by_name:
            for_type_types = by_name_types  # compiled once for both uses
        else:
            for_type_types = _Types(for_type)
        listed.append(
            _Region(
                name=name,
                by_name=by_name_types,
                leading_digits=leading,
                for_type=for_type_types,
                has_code=name == _NON_GEO or (by_name is not None and by_name.country_code == code),
            )
        )
    prefix = main.national_prefix_for_parsing
    return _Plan(code, re.compile(prefix) if prefix else None, tuple(listed))


def _split(digits: str) -> tuple[_Plan, str] | None:
    """The calling code's plan and the national significant number, as parse splits
    ``+digits``; None wherever parse might split or strip otherwise, or refuse."""
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
    return plan, nsn


def _region(plan: _Plan, nsn: str) -> _Region | None:
    """region_code_for_number: the only region, or the first of a shared code's
    whose leading digits match or, without leading digits, that gives a type."""
    if len(plan.regions) == 1:
        return plan.regions[0]
    for region in plan.regions:
        if region.by_name is None:
            continue
        if region.leading_digits is not None:
            if region.leading_digits.match(nsn):
                return region
        elif region.by_name.has_type(nsn):
            return region
    return None


__all__ = ["PlainNumber", "clear_caches", "e164_if_valid", "plain_number"]
