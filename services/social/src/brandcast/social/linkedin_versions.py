"""LinkedIn's monthly API versions (``LinkedIn-Version: YYYYMM``) and when each one retires.

LinkedIn releases a version every month and serves each for one year; a request
with a retired (or not yet released) version is answered ``426`` with
``NONEXISTENT_VERSION``. A configured version therefore has a shelf life: the
adapter warns at start-up when it retires within ``WARN_DAYS``, and a 426 fails
with an error naming the setting to change.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

#: A version LinkedIn serves until October 2027; bump it at least yearly.
DEFAULT_VERSION = "202610"
#: Months LinkedIn serves a version after its release.
SUPPORT_MONTHS = 12
#: Days before retirement from which start-up warns.
WARN_DAYS = 60
SETTING = "SOCIAL_LINKEDIN_VERSION"

_VERSION = re.compile(r"^(\d{4})(\d{2})(?:\.\d{2})?$")


def _month(version: str) -> date:
    match = _VERSION.match(version)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"{version!r} is not a LinkedIn version (YYYYMM)")
    return date(int(match.group(1)), int(match.group(2)), 1)


def released(version: str) -> date:
    """The first day of the version's month."""
    return _month(version)


def retires(version: str) -> date:
    """The first day LinkedIn no longer serves ``version``."""
    start = _month(version)
    months = start.month - 1 + SUPPORT_MONTHS
    return date(start.year + months // 12, months % 12 + 1, 1)


def today() -> date:
    return datetime.now(UTC).date()


def is_served(version: str, on: date) -> bool:
    """True when LinkedIn answers ``version`` on day ``on`` (released and not retired)."""
    try:
        return released(version) <= on < retires(version)
    except ValueError:
        return False


def retirement_warning(version: str, on: date, where: str = SETTING) -> str | None:
    """What to tell an operator at start-up about ``version`` (set in ``where``), or None."""
    try:
        end = retires(version)
    except ValueError:
        return f"{where}={version!r} is not a LinkedIn version (YYYYMM)"
    if on >= end:
        return (
            f"{where}={version} was retired by LinkedIn on {end.isoformat()}: every LinkedIn "
            f"post will fail with HTTP 426 until {where} names a version of the last 12 months"
        )
    if on < released(version):
        return f"{where}={version} is not released yet: LinkedIn answers it with HTTP 426"
    if end - on <= timedelta(days=WARN_DAYS):
        return (
            f"{where}={version} is retired by LinkedIn on {end.isoformat()} "
            f"({(end - on).days} days): set {where} to a newer version before then"
        )
    return None
