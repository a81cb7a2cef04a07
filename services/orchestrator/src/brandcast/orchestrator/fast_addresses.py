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
  between them) loses its separators and is judged by
  ``brandcast.shared.plain_numbers`` (shared with the SMS adapter): split into
  country code and national number directly, and checked against the numbering
  plan's patterns combined into one expression per plan and length, built once
  from phonenumbers' own metadata.
"""

from __future__ import annotations

import functools
import re
from typing import Final

from email_validator import EmailNotValidError, validate_email

from brandcast.shared import plain_numbers

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


def phone_fast(number: str) -> str | None:
    """The E.164 form of a plainly written valid number, else ``None``."""
    if not _PLAIN_PHONE.fullmatch(number):
        return None
    return plain_numbers.e164_if_valid(number[1:].translate(_SEPARATORS))


def clear_caches() -> None:
    """Forget every cached verdict (benchmarks start cold; tests start clean)."""
    _checked_domain.cache_clear()
    plain_numbers.clear_caches()
