"""Cheap paths for the addresses most audiences are made of, exact or silent.

``email_fast`` and ``phone_fast`` return the canonical form of an address that
the full checks (``validation.normalize_email_full`` and
``normalize_phone_full``: email-validator and phonenumbers) would accept, or
``None`` whenever they cannot be sure: then the caller runs the full check,
which also words every error. So a rejection and its message always come from
the libraries; the cheap paths only ever say "valid, and this is its form", and
a property test holds them to the libraries' answers.

Where the time went (``bench/bench_submit_validation.py``): email-validator
looks at the domain character by character (Unicode categories, UTS #46, IDNA)
for every address, and phonenumbers re-extracts, re-normalises and matches about
ten patterns per region twice for each number. Audiences share a few thousand
domains and a few hundred numbering plans, so:

- an e-mail address whose local part is a plain ASCII dot-atom needs nothing of
  its own beyond that: its domain's verdict is the library's, computed once per
  domain (a bounded LRU) by validating a probe address on it;
- a phone number written as ``+`` and digits (spaces, dashes, dots, brackets
  between them) is split into country code and national number directly, and
  checked against the numbering plan's patterns combined into one expression
  per plan and length, built once from phonenumbers' own metadata.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Final

import phonenumbers
from email_validator import EmailNotValidError, validate_email

#: Distinct e-mail domains remembered (a few hundred bytes each).
DOMAIN_CACHE_SIZE: Final = 8192
#: RFC 5321's limit on a whole address, in UTF-8 bytes (email-validator's too).
_EMAIL_MAX_BYTES: Final = 254
#: No domain this long is valid (DNS: 253); longer ones are not cached.
_DOMAIN_MAX_LENGTH: Final = 253
#: RFC 5322 ``dot-atom-text`` in ASCII: such a local part is valid as it is,
#: unchanged by Unicode normalisation, and holds no ``@``, quote or angle bracket.
_PLAIN_LOCAL: Final = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
)
#: ``+`` and ASCII digits, with the separators people type between them; none of
#: them can start an extension or a second number for phonenumbers' parser.
_PLAIN_PHONE: Final = re.compile(r"\+[0-9 ().-]{4,40}")
_SEPARATORS: Final = str.maketrans("", "", " ().-")
#: phonenumbers' bounds on a national significant number.
_MIN_NSN: Final = 2
_MAX_NSN: Final = 17
_NON_GEO: Final = "001"
#: A back reference or a conditional group: patterns holding one are not joined.
_REFERS_TO_GROUP: Final = re.compile(r"\\[1-9]|\(\?P=|\(\?\(")


def email_fast(address: str) -> str | None:
    """The normalised form of a plain address on a known-good domain, else ``None``."""
    at = address.find("@")
    if at <= 0 or not _PLAIN_LOCAL.fullmatch(address, 0, at):
        return None
    local, domain_part = address[:at], address[at + 1 :]
    checked = _domain(domain_part)
    if checked is None:
        return None
    domain, ascii_domain = checked
    normalized = f"{local}@{domain}"
    # email-validator's length checks: as given, normalised, and with the IDNA domain.
    for whole in (address, normalized, f"{local}@{ascii_domain}"):
        if len(whole.encode()) > _EMAIL_MAX_BYTES:
            return None
    return normalized.lower()


@functools.lru_cache(maxsize=DOMAIN_CACHE_SIZE)
def _checked_domain(domain_part: str) -> tuple[str, str] | None:
    """The library's verdict on a domain: its Unicode and ASCII forms, or None.

    A plain local part is valid and unchanged, so the whole address is valid
    exactly when the domain is and the lengths fit; "a" stands for any of them.
    """
    try:
        probe = validate_email(f"a@{domain_part}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return probe.domain, probe.ascii_domain


def _domain(domain_part: str) -> tuple[str, str] | None:
    if len(domain_part) > _DOMAIN_MAX_LENGTH:
        return None  # invalid anyway; the full check says why, and the cache stays small
    return _checked_domain(domain_part)


#: A region of a calling code: its name, its metadata, its leading-digits
#: pattern, and the metadata that validity is checked against once it is chosen.
_Region = tuple[str, Any, "re.Pattern[str] | None", Any]
#: A plan's general pattern, and its types' patterns, for one number length.
_Patterns = tuple["re.Pattern[str] | None", tuple["re.Pattern[str]", ...]]


@dataclass(frozen=True)
class _Plan:
    """What phonenumbers knows about one country calling code, looked up once."""

    code: int
    #: ``national_prefix_for_parsing``: where it matches, parsing may strip digits.
    national_prefix: re.Pattern[str] | None
    #: The code's regions in phonenumbers' order.
    regions: tuple[_Region, ...]


def phone_fast(number: str) -> str | None:
    """The E.164 form of a plainly written valid number, else ``None``."""
    if not _PLAIN_PHONE.fullmatch(number):
        return None
    digits = number[1:].translate(_SEPARATORS)
    if len(digits) <= _MIN_NSN or digits[0] == "0":
        return None
    # The shortest prefix that is a calling code, as phonenumbers' parser takes it.
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    plan = _plan(code)
    if plan is None:
        return None
    nsn = digits[size:]
    if not _MIN_NSN <= len(nsn) <= _MAX_NSN:
        return None
    if plan.national_prefix is not None and plan.national_prefix.match(nsn):
        return None  # parsing might strip a national prefix: the full path decides
    return f"+{plan.code}{nsn}" if _is_valid(plan, nsn) else None


def _is_valid(plan: _Plan, nsn: str) -> bool:
    """``phonenumbers.is_valid_number`` for the number ``plan.code``/``nsn``."""
    regions = plan.regions
    chosen = regions[0] if len(regions) == 1 else _region_of(regions, nsn)
    if chosen is None:
        return False
    region, by_region, _, metadata = chosen
    if metadata is None:
        return False
    # country_code_for_valid_region reads the metadata by region alone.
    if region != _NON_GEO and (by_region is None or by_region.country_code != plan.code):
        return False
    return _has_type(metadata, nsn)


def _region_of(regions: tuple[_Region, ...], nsn: str) -> _Region | None:
    """region_code_for_number for a code shared by regions: the first whose
    leading digits match or, without leading digits, whose patterns do."""
    for listed in regions:
        _, by_region, leading, _ = listed
        if by_region is None:
            continue
        if leading is not None:
            if leading.match(nsn):
                return listed
        elif _has_type(by_region, nsn):
            return listed
    return None


def _has_type(metadata: Any, nsn: str) -> bool:
    """Whether phonenumbers gives the number a type other than UNKNOWN."""
    general, types = _type_patterns(metadata, len(nsn))
    return bool(general and general.fullmatch(nsn) and any(t.fullmatch(nsn) for t in types))


#: By (id of the metadata, length): the metadata itself, kept to check the id.
_TYPE_PATTERNS: dict[tuple[int, int], tuple[Any, _Patterns]] = {}


def _type_patterns(metadata: Any, length: int) -> _Patterns:
    """The general pattern and the types' patterns, as one expression, that can
    match a national number of ``length`` digits (``_number_type_helper``'s rules)."""
    key = (id(metadata), length)
    found = _TYPE_PATTERNS.get(key)
    if found is not None and found[0] is metadata:
        return found[1]
    general = _desc_pattern(metadata.general_desc, length)
    descs = [
        metadata.premium_rate,
        metadata.toll_free,
        metadata.shared_cost,
        metadata.voip,
        metadata.personal_number,
        metadata.pager,
        metadata.uan,
        metadata.voicemail,
        metadata.fixed_line,
    ]
    # Mobile is only tried when its pattern differs from fixed line's.
    if not metadata.same_mobile_and_fixed_line_pattern:
        descs.append(metadata.mobile)
    wanted = [p for p in (_desc_source(d, length) for d in descs) if p is not None]
    types: tuple[re.Pattern[str], ...] = ()
    if wanted:
        try:
            if any(_REFERS_TO_GROUP.search(p) for p in wanted):
                # Joined, a numbered back reference would point at another group.
                raise re.error("back reference")
            types = (re.compile("|".join(f"(?:{p})" for p in wanted)),)
        except re.error:  # or group names clashing: one expression each then
            types = tuple(re.compile(p) for p in wanted)
    result: _Patterns = (general, types)
    _TYPE_PATTERNS[key] = (metadata, result)
    return result


def _desc_source(desc: Any, length: int) -> str | None:
    """A number description's pattern if it can match ``length`` digits."""
    if desc is None:
        return None
    lengths = desc.possible_length
    if lengths and length not in lengths:
        return None
    pattern: str | None = desc.national_number_pattern
    return pattern or None


def _desc_pattern(desc: Any, length: int) -> re.Pattern[str] | None:
    source = _desc_source(desc, length)
    return None if source is None else re.compile(source)


@functools.cache  # bounded: one per calling code (about 250)
def _plan(code: int) -> _Plan | None:
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code)
    if not regions:
        return None
    # As parse does: the metadata of the code's main region (or the non-geographic one).
    main = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
        code, phonenumbers.region_code_for_country_code(code)
    )
    if main is None:
        return None
    listed: list[_Region] = []
    for region in regions:
        # region_code_for_number reads a shared code's regions by region alone;
        # is_valid_number_for_region reads the one it found by region and code.
        by_region = phonenumbers.PhoneMetadata.metadata_for_region(region.upper(), None)
        leading = None
        if by_region is not None and by_region.leading_digits is not None:
            leading = re.compile(by_region.leading_digits)
        for_validity = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
            code, region.upper()
        )
        listed.append((region, by_region, leading, for_validity))
    prefix = main.national_prefix_for_parsing
    return _Plan(code, re.compile(prefix) if prefix else None, tuple(listed))


def clear_caches() -> None:
    """Forget every cached verdict (benchmarks start cold; tests start clean)."""
    _checked_domain.cache_clear()
    _plan.cache_clear()
    _TYPE_PATTERNS.clear()
