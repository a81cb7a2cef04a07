"""Quiet hours for SMS: when a text may reach a recipient, in the recipient's time zone.

A campaign's ``SmsSettings.quiet_hours_start``/``quiet_hours_end`` ("HH:MM",
default 21:00-08:00) is a window of local time in which no SMS is sent; a
window whose start is after its end wraps midnight, and equal start and end
mean no quiet hours. The time zone is the recipient's, else the brand kit's
``default_timezone``, else the orchestrator's ``QUIET_HOURS_DEFAULT_TIMEZONE``
(UTC). A delivery in quiet hours is deferred to the window's end, never dropped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from brandcast.v1 import campaign_pb2

DEFAULT_START: Final = dt.time(21, 0)
DEFAULT_END: Final = dt.time(8, 0)


def parse_clock_time(value: str) -> dt.time:
    """``"HH:MM"`` (24-hour) as a time; ``ValueError`` saying why it is not one."""
    hours, sep, minutes = value.partition(":")
    if not sep or len(hours) != 2 or len(minutes) != 2:
        raise ValueError('must be "HH:MM" (24-hour), e.g. "21:00"')
    if not (hours.isdigit() and minutes.isdigit()):
        raise ValueError('must be "HH:MM" (24-hour), e.g. "21:00"')
    if int(hours) > 23 or int(minutes) > 59:
        raise ValueError("is not a time of day (00:00 to 23:59)")
    return dt.time(int(hours), int(minutes))


#: Longest IANA zone name accepted (the longest in tzdata has 32 characters).
MAX_ZONE_NAME: Final = 64


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ``ValueError`` when there is no such zone."""
    if len(name) > MAX_ZONE_NAME:
        # Looked up as a file name: a very long one fails with OSError instead.
        raise ValueError(f"{name[:MAX_ZONE_NAME]!r}... is not an IANA time zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone") from exc


@dataclass(frozen=True)
class QuietHours:
    start: dt.time = DEFAULT_START
    end: dt.time = DEFAULT_END

    @classmethod
    def of(cls, sms: campaign_pb2.SmsSettings) -> QuietHours | None:
        """The campaign's quiet hours, or ``None`` when it ignores them (validated specs only)."""
        if sms.ignore_quiet_hours:
            return None
        start = parse_clock_time(sms.quiet_hours_start) if sms.quiet_hours_start else DEFAULT_START
        end = parse_clock_time(sms.quiet_hours_end) if sms.quiet_hours_end else DEFAULT_END
        return cls(start, end)

    def is_quiet(self, local: dt.time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, now: dt.datetime, tz: ZoneInfo) -> dt.datetime | None:
        """When an SMS may go out, as an aware UTC time; ``None`` when it may go now.

        ``now`` must be timezone-aware. The end of the window is taken on the
        local calendar, so days with a DST change still end at the local time
        (a time skipped by the change lands just after it).
        """
        local = now.astimezone(tz)
        clock = local.time().replace(tzinfo=None)
        if not self.is_quiet(clock):
            return None
        day = local.date() if clock < self.end else local.date() + dt.timedelta(days=1)
        allowed = dt.datetime.combine(day, self.end, tzinfo=tz).astimezone(dt.UTC)
        # A skipped local time can map to an instant before ``now``; never defer backwards.
        return max(allowed, now.astimezone(dt.UTC))
