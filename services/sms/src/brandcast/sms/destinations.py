"""Which numbers we send to: the first defence against SMS pumping (toll fraud).

Fraudsters make a sender text numbers whose carriers pay them per message:
premium-rate and shared-cost ranges, or whole countries the brand never sells
in. Every destination is parsed as E.164 with ``phonenumbers`` and refused
before any provider is called unless it is a valid number, of a type that can
receive SMS, in an allowed country. Refusals are permanent failures with a
reason code the orchestrator stores (``invalid_number``, ``landline``,
``premium_rate``, ``country_not_allowed``).

Checked before every send, so it is kept cheap: a number written as ``+`` and
digits takes ``brandcast.shared.plain_numbers``' path (phonenumbers' answers
without its parser, shared with the orchestrator's intake), and what an address
is (not whether its country is allowed) is cached per process, since numbers
repeat across a brand's campaigns and a delivery's retries.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import phonenumbers
from phonenumbers import PhoneNumberType

from brandcast.shared.errors import PermanentProviderError
from brandcast.shared.plain_numbers import plain_number

INVALID_NUMBER: Final = "invalid_number"
LANDLINE: Final = "landline"
PREMIUM_RATE: Final = "premium_rate"
COUNTRY_NOT_ALLOWED: Final = "country_not_allowed"

#: Types refused as ``premium_rate``: the recipient's carrier, not the sender, sets
#: the price, which is what pumping schemes exploit. Toll-free numbers cannot
#: receive SMS as destinations in most countries and are abused the same way.
_COSTLY_TYPES: Final = frozenset(
    {PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST, PhoneNumberType.TOLL_FREE}
)


class RefusedDestinationError(PermanentProviderError):
    """The number must not be texted; ``code`` says why. No provider was called."""


@dataclass(frozen=True)
class Destination:
    """A number that passed the checks."""

    e164: str
    region: str
    country_code: int
    national_number: str

    def prefix(self, digits: int) -> str:
        """Country code and the first ``digits`` national digits, e.g. ``"44740"``."""
        return f"{self.country_code}{self.national_number[:digits]}"


#: Parsed addresses kept per process. An entry costs ~500 bytes in all: with 65,536
#: the SMS worker's peak RSS grew from 90 to 124 MB in bench_e2e (100k new numbers),
#: so ~8 MB at most now. A hit costs ~0.6 µs, against ~10-20 µs by the cheap path and
#: ~100 µs by phonenumbers; the cheap path serves a campaign's new numbers anyway,
#: the cache the repeats (retries, the next campaigns to the same people).
PARSED_CACHE_SIZE: Final = 16_384


@dataclass(frozen=True)
class _Invalid:
    """Why ``address`` is not a valid number, whatever the allowed countries."""

    message: str
    cause: phonenumbers.NumberParseException | None = None


@dataclass(frozen=True)
class _Parsed:
    destination: Destination
    kind: int


@functools.lru_cache(maxsize=PARSED_CACHE_SIZE)
def _parse(address: str) -> _Parsed | _Invalid:
    """What ``address`` is, as a pure function of the string alone (so it can be cached:
    the allowed countries are applied by the caller, after it)."""
    plain = plain_number(address)
    if plain is None:
        return _parse_in_full(address)
    if not _is_valid(plain.region, plain.kind):
        return _INVALID
    destination = Destination(
        e164=f"+{plain.country_code}{plain.national_number}",
        region=plain.region,
        country_code=plain.country_code,
        national_number=plain.national_number,
    )
    return _Parsed(destination, plain.kind)


def _parse_in_full(address: str) -> _Parsed | _Invalid:
    """``_parse`` by phonenumbers itself: any address, and every refusal's wording."""
    if not address.startswith("+"):
        # Without a leading + phonenumbers would need a default region and
        # could silently pick the wrong country: the bus contract is E.164.
        return _Invalid("address: not in E.164 form (must start with +)")
    if any(char.isalpha() for char in address):
        # phonenumbers reads letters as keypad digits (vanity numbers) and drops
        # extensions: either would text a number other than the one given.
        return _Invalid("address: letters or an extension in a phone number")
    try:
        number = phonenumbers.parse(address, None)
    except phonenumbers.NumberParseException as exc:
        return _Invalid(f"address: {exc}", exc)
    region = phonenumbers.region_code_for_number(number) or ""
    kind = phonenumbers.number_type(number)
    if not _is_valid(region, kind):
        return _INVALID
    destination = Destination(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        region=region,
        country_code=number.country_code or 0,
        national_number=phonenumbers.national_significant_number(number),
    )
    return _Parsed(destination, kind)


_INVALID: Final = _Invalid("address: not a valid number for any country")


def _is_valid(region: str, kind: int) -> bool:
    # What is_valid_number() decides, from the two answers needed anyway: a number is
    # valid when its country code has a region and the number matches one of that
    # region's types (is_valid_number would work both out once more, ~11 µs).
    return bool(region) and kind != PhoneNumberType.UNKNOWN


class DestinationPolicy:
    def __init__(self, allowed_countries: Iterable[str]) -> None:
        self._allowed = frozenset(code.upper() for code in allowed_countries)

    def check(self, address: str) -> Destination:
        """The parsed destination, or :class:`RefusedDestinationError`."""
        parsed = _parse(address)
        if isinstance(parsed, _Invalid):
            raise RefusedDestinationError(INVALID_NUMBER, parsed.message) from parsed.cause
        region = parsed.destination.region
        if region not in self._allowed:
            raise RefusedDestinationError(
                COUNTRY_NOT_ALLOWED,
                f"address: region {region or 'unknown'} is not in SMS_ALLOWED_COUNTRIES",
            )
        kind = parsed.kind
        if kind in _COSTLY_TYPES:
            name = _TYPE_NAMES.get(kind, str(kind))
            raise RefusedDestinationError(PREMIUM_RATE, f"address: {name} numbers are never texted")
        if kind == PhoneNumberType.FIXED_LINE:
            raise RefusedDestinationError(LANDLINE, "address: a landline cannot receive SMS")
        return parsed.destination


_TYPE_NAMES: Final = {
    PhoneNumberType.PREMIUM_RATE: "premium-rate",
    PhoneNumberType.SHARED_COST: "shared-cost",
    PhoneNumberType.TOLL_FREE: "toll-free",
}
