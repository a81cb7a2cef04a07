"""Realistic North American audiences: numbers where people live, as a brand's list holds them.

Area codes and the state or province each serves come from the ``phonenumbers``
metadata (its validity rules and its geocoding descriptions). Each area code is
weighted by its state's population (2020 US census, 2021 Canadian census) shared
among the state's area codes. Carriers hand numbers out in blocks, so in each
area code only some exchanges hold mobile numbers: a list's numbers fall in 150 of
its exchanges, on any line. Large single-city lists are drawn the same way from
one city's area codes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from functools import cache

import phonenumbers
from phonenumbers import geocoder

#: Residents (thousands), 2020 US census and 2021 Canadian census.
POPULATION_THOUSANDS = {
    "AL": 5024, "AK": 733, "AZ": 7152, "AR": 3012, "CA": 39538, "CO": 5774, "CT": 3606,
    "DE": 990, "DC": 690, "FL": 21538, "GA": 10712, "HI": 1455, "ID": 1839, "IL": 12813,
    "IN": 6786, "IA": 3190, "KS": 2938, "KY": 4506, "LA": 4658, "ME": 1362, "MD": 6177,
    "MA": 7030, "MI": 10077, "MN": 5706, "MS": 2961, "MO": 6155, "MT": 1084, "NE": 1962,
    "NV": 3105, "NH": 1378, "NJ": 9289, "NM": 2118, "NY": 20201, "NC": 10439, "ND": 779,
    "OH": 11799, "OK": 3959, "OR": 4237, "PA": 13003, "RI": 1097, "SC": 5118, "SD": 887,
    "TN": 6911, "TX": 29146, "UT": 3272, "VT": 643, "VA": 8631, "WA": 7705, "WV": 1794,
    "WI": 5894, "WY": 577,
    "ON": 14223, "QC": 8501, "BC": 5000, "AB": 4262, "MB": 1342, "SK": 1132, "NS": 969,
    "NB": 775, "NL": 510, "PE": 154,
}  # fmt: skip
_NAMES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "Washington D.C.": "DC",
    "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL",
    "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA",
    "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI",
    "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO", "Montana": "MT",
    "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ",
    "New Mexico": "NM", "New York": "NY", "North Carolina": "NC", "North Dakota": "ND",
    "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN",
    "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA",
    "Washington State": "WA", "Washington": "WA", "West Virginia": "WV", "Wisconsin": "WI",
    "Wyoming": "WY", "Ontario": "ON", "Quebec": "QC", "British Columbia": "BC",
    "Alberta": "AB", "Manitoba": "MB", "Saskatchewan": "SK", "Nova Scotia": "NS",
    "New Brunswick": "NB", "Newfoundland and Labrador": "NL", "Newfoundland": "NL",
    "Prince Edward Island": "PE",
}  # fmt: skip
#: Area codes of cities a brand may hold a large list in.
CITIES = {
    "san-francisco": (415, 628),
    "new-york": (212, 646, 332, 917, 718, 347, 929),
    "los-angeles": (213, 323, 310, 424, 818),
    "chicago": (312, 872, 773),
}
ACTIVE_EXCHANGES = 150


def _state(description: str) -> str | None:
    if description in _NAMES:
        return _NAMES[description]
    _, _, suffix = description.rpartition(", ")
    return suffix if suffix in POPULATION_THOUSANDS else None


@cache
def area_codes_by_state() -> dict[str, list[int]]:
    """Every valid North American area code of a US state or Canadian province."""
    found: dict[str, list[int]] = {}
    for npa in range(201, 1000):
        number = phonenumbers.parse(f"+1{npa}2345678")
        if not phonenumbers.is_valid_number(number):
            continue
        state = _state(geocoder.description_for_number(number, "en"))
        if state is not None:
            found.setdefault(state, []).append(npa)
    return found


@cache
def _exchanges(npa: int) -> tuple[int, ...]:
    """The exchanges of ``npa`` this model's subscribers live in (fixed per area code)."""
    # NANP exchanges: 2-9 first, never N11; 555 and 950/958/959/976 are not subscribers'.
    usable = [
        nxx for nxx in range(200, 1000) if nxx % 100 != 11 and nxx not in (555, 950, 958, 959, 976)
    ]
    return tuple(random.Random(npa).sample(usable, min(ACTIVE_EXCHANGES, len(usable))))


def _numbers(
    area_codes: list[int], weights: list[float], count: int, rng: random.Random
) -> Iterator[str]:
    seen: set[str] = set()
    while len(seen) < count:
        npa = rng.choices(area_codes, weights)[0]
        number = f"+1{npa}{rng.choice(_exchanges(npa))}{rng.randrange(10_000):04d}"
        if number not in seen and phonenumbers.is_valid_number(phonenumbers.parse(number)):
            seen.add(number)
            yield number


def national_audience(count: int, seed: int = 1) -> list[str]:
    """``count`` distinct numbers spread over North America in proportion to population."""
    by_state = area_codes_by_state()
    codes: list[int] = []
    weights: list[float] = []
    for state, npas in by_state.items():
        for npa in npas:
            codes.append(npa)
            weights.append(POPULATION_THOUSANDS[state] / len(npas))
    return list(_numbers(codes, weights, count, random.Random(seed)))


def city_audience(city: str, count: int, seed: int = 2) -> list[str]:
    """``count`` distinct numbers of one city's area codes (a large single-city list)."""
    codes = list(CITIES[city])
    return list(_numbers(codes, [1.0] * len(codes), count, random.Random(seed)))


def realistic_campaign(count: int = 100_000) -> list[str]:
    """A brand's list: 60% national, the rest four large single-city lists."""
    cities = [city_audience(city, count // 10, seed=10 + i) for i, city in enumerate(CITIES)]
    national = national_audience(count - sum(len(c) for c in cities), seed=3)
    combined = list(dict.fromkeys(number for part in (national, *cities) for number in part))
    taken = set(combined)
    top_up = (n for n in national_audience(count * 2, seed=4) if n not in taken)
    while len(combined) < count:
        combined.append(next(top_up))
    return combined
