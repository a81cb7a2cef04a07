"""Which numbers we send to: the first defence against SMS pumping (toll fraud).

Fraudsters make a sender text numbers whose carriers pay them per message:
premium-rate and shared-cost ranges, or whole countries the brand never sells
in. Every destination is parsed as E.164 with ``phonenumbers`` and refused
before any provider is called unless it is a valid number, of a type that can
receive SMS, in an allowed country. Refusals are permanent failures with a
reason code the orchestrator stores (``invalid_number``, ``landline``,
``premium_rate``, ``country_not_allowed``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import phonenumbers
from phonenumbers import PhoneNumberType

from brandcast.shared.errors import PermanentProviderError

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


class DestinationPolicy:
    def __init__(self, allowed_countries: Iterable[str]) -> None:
        self._allowed = frozenset(code.upper() for code in allowed_countries)

    def check(self, address: str) -> Destination:
        """The parsed destination, or :class:`RefusedDestinationError`."""
        if not address.startswith("+"):
            # Without a leading + phonenumbers would need a default region and
            # could silently pick the wrong country: the bus contract is E.164.
            raise RefusedDestinationError(
                INVALID_NUMBER, "address: not in E.164 form (must start with +)"
            )
        if any(char.isalpha() for char in address):
            # phonenumbers reads letters as keypad digits (vanity numbers) and drops
            # extensions: either would text a number other than the one given.
            raise RefusedDestinationError(
                INVALID_NUMBER, "address: letters or an extension in a phone number"
            )
        try:
            number = phonenumbers.parse(address, None)
        except phonenumbers.NumberParseException as exc:
            raise RefusedDestinationError(INVALID_NUMBER, f"address: {exc}") from exc
        region = phonenumbers.region_code_for_number(number) or ""
        # What is_valid_number() decides, from the two answers needed anyway: a number is
        # valid when its country code has a region and the number matches one of that
        # region's types (is_valid_number would work both out once more, ~11 µs).
        kind = phonenumbers.number_type(number)
        if not region or kind == PhoneNumberType.UNKNOWN:
            raise RefusedDestinationError(
                INVALID_NUMBER, "address: not a valid number for any country"
            )
        if region not in self._allowed:
            raise RefusedDestinationError(
                COUNTRY_NOT_ALLOWED,
                f"address: region {region or 'unknown'} is not in SMS_ALLOWED_COUNTRIES",
            )
        if kind in _COSTLY_TYPES:
            name = _TYPE_NAMES.get(kind, str(kind))
            raise RefusedDestinationError(PREMIUM_RATE, f"address: {name} numbers are never texted")
        if kind == PhoneNumberType.FIXED_LINE:
            raise RefusedDestinationError(LANDLINE, "address: a landline cannot receive SMS")
        return Destination(
            e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
            region=region,
            country_code=number.country_code or 0,
            national_number=phonenumbers.national_significant_number(number),
        )


_TYPE_NAMES: Final = {
    PhoneNumberType.PREMIUM_RATE: "premium-rate",
    PhoneNumberType.SHARED_COST: "shared-cost",
    PhoneNumberType.TOLL_FREE: "toll-free",
}
