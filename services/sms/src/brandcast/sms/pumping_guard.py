"""The defence against SMS pumping that tells an attack from a campaign.

Pumping (toll fraud) hits one-off flows, sign-up and one-time codes, with numbers
nobody opted in: a fraudster asks our upstream system to text thousands of
numbers in ranges whose terminating fees they share. A campaign goes to a list
the brand collected: many numbers, spread over real ranges, many known already.
A flat cap per area code cannot tell them apart (a 20,000-number campaign to one
city is one area code), so the guard keys on what differs:

- **the kind of traffic** (``DispatchBatch.priority``): TRANSACTIONAL is one-off
  traffic and gets the strict checks below; a marketing send to a list only the
  range check;
- **unusual ranges**: distinct numbers per hundred-block (the number without its
  last two digits) per hour. A collected list almost never has more than a few
  members in one block; a pumping run walks through a fraudster's block;
- **never-seen numbers against the prefix's own baseline**: one-off traffic to a
  number this deployment never texted counts against the prefix (country code +
  ``SMS_PREFIX_DIGITS`` digits); past ``max(floor, factor x its mean of the last
  24 hours)`` per hour the delivery is held. A returning user is never counted.

Premium-rate and shared-cost numbers never get here: ``destinations`` refuses them.

The counts live in Redis (one Lua script, atomic), shared by every worker process.
A number admitted once in the hour passes again (a retried delivery is not
counted twice). A held delivery is not failed: the caller defers it, and it fails
only when its hold window has closed (see ``deliver.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, Protocol

import redis

HELD: Final = "pumping_guard_held"
BLOCKED: Final = "pumping_guard_blocked"
#: Hours of history a prefix's baseline is the mean of.
BASELINE_HOURS: Final = 24
#: Seconds a number stays "seen" after it was last texted.
KNOWN_TTL: Final = 400 * 86400

TrafficKind = Literal["list", "one_off"]


@dataclass(frozen=True)
class GuardLimits:
    #: Distinct numbers per hundred-block per hour, list traffic.
    list_block_limit: int = 25
    #: Distinct numbers per hundred-block per hour, one-off traffic.
    one_off_block_limit: int = 3
    #: Never-seen numbers per prefix per hour one-off traffic may always reach.
    new_numbers_floor: int = 5
    #: ... or this many times the prefix's hourly mean over the last 24 hours.
    baseline_factor: float = 3.0
    window: int = 3600


@dataclass(frozen=True)
class Verdict:
    admitted: bool
    #: Why not, for people: which range or prefix, how many, what limit.
    reason: str = ""


class PumpingGuard(Protocol):
    def check(self, number: str, *, prefix: str, kind: TrafficKind) -> Verdict:
        """Admit ``number`` (E.164 digits without '+') or say why it is held."""


class NoPumpingGuard:
    def check(self, number: str, *, prefix: str, kind: TrafficKind) -> Verdict:
        return Verdict(True)


def hundred_block(number: str) -> str:
    """The block of 100 numbers ``number`` belongs to (its digits but the last two)."""
    return number[:-2]


def _held_block(number: str, count: int, limit: int) -> Verdict:
    return Verdict(
        False,
        f"{count} numbers in the range +{hundred_block(number)}xx this hour (limit {limit})",
    )


def _held_new(prefix: str, count: int, limit: float, baseline: float) -> Verdict:
    return Verdict(
        False,
        f"{count} never-texted numbers under +{prefix} this hour from one-off traffic "
        f"(limit {limit:g}: its 24-hour mean is {baseline:.1f} an hour)",
    )


# Returns {admitted, reason, count, limit*100, baseline*100}; reason: "", "block" or "new".
_CHECK = """
local number, one_off = ARGV[1], ARGV[2] == 'one_off'
local block_limit, floor, factor = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local bucket, window, known_ttl, hours =
  tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
if redis.call('SISMEMBER', KEYS[1], number) == 1 then return {1, '', 0, 0, 0} end
local in_block = redis.call('SCARD', KEYS[1])
if in_block >= block_limit then return {0, 'block', in_block, block_limit * 100, 0} end
if one_off and redis.call('SISMEMBER', KEYS[2], number) == 0 then
  local total = 0
  for h = 1, hours do
    total = total + tonumber(redis.call('HGET', KEYS[4], tostring(bucket - h)) or '0')
  end
  local baseline = total / hours
  local limit = math.max(floor, factor * baseline)
  local fresh = redis.call('SCARD', KEYS[3])
  if fresh >= limit then
    return {0, 'new', fresh, math.floor(limit * 100), math.floor(baseline * 100)}
  end
  redis.call('SADD', KEYS[3], number)
  redis.call('EXPIRE', KEYS[3], window * 2)
  redis.call('HINCRBY', KEYS[4], tostring(bucket), 1)
  redis.call('EXPIRE', KEYS[4], window * (hours + 2))
end
redis.call('SADD', KEYS[1], number)
redis.call('EXPIRE', KEYS[1], window * 2)
redis.call('SADD', KEYS[2], number)
redis.call('EXPIRE', KEYS[2], known_ttl)
return {1, '', 0, 0, 0}
"""


class RedisPumpingGuard:
    def __init__(
        self,
        redis_url: str,
        limits: GuardLimits,
        *,
        namespace: str = "sms",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = redis.Redis.from_url(redis_url)
        self._script = self._client.register_script(_CHECK)
        self._limits = limits
        self._prefix = f"brandcast:{namespace}:pumping"
        self._clock = clock

    def check(self, number: str, *, prefix: str, kind: TrafficKind) -> Verdict:
        limits = self._limits
        bucket = int(self._clock() // limits.window)
        block_limit = limits.one_off_block_limit if kind == "one_off" else limits.list_block_limit
        keys = [
            f"{self._prefix}:block:{hundred_block(number)}:{bucket}",
            f"{self._prefix}:known:{prefix}",
            f"{self._prefix}:new:{prefix}:{bucket}",
            f"{self._prefix}:history:{prefix}",
        ]
        args: list[str | int | float] = [
            number,
            kind,
            block_limit,
            limits.new_numbers_floor,
            limits.baseline_factor,
            bucket,
            limits.window,
            KNOWN_TTL,
            BASELINE_HOURS,
        ]
        admitted, reason, count, limit, baseline = self._script(keys=keys, args=args)
        if int(admitted):
            return Verdict(True)
        if reason in (b"block", "block"):
            return _held_block(number, int(count), int(limit) // 100)
        return _held_new(prefix, int(count), int(limit) / 100, int(baseline) / 100)


class LocalPumpingGuard:
    """The same rules in this process only (no Redis configured: one worker process)."""

    def __init__(self, limits: GuardLimits, *, clock: Callable[[], float] = time.time) -> None:
        self._limits = limits
        self._clock = clock
        self._blocks: dict[tuple[str, int], set[str]] = {}
        self._known: dict[str, set[str]] = {}
        self._new: dict[tuple[str, int], set[str]] = {}
        self._lock = threading.Lock()

    def check(self, number: str, *, prefix: str, kind: TrafficKind) -> Verdict:
        limits = self._limits
        bucket = int(self._clock() // limits.window)
        block_limit = limits.one_off_block_limit if kind == "one_off" else limits.list_block_limit
        with self._lock:
            for stale in [key for key in self._blocks if key[1] < bucket - 1]:
                del self._blocks[stale]
            block = self._blocks.setdefault((hundred_block(number), bucket), set())
            if number in block:
                return Verdict(True)
            if len(block) >= block_limit:
                return _held_block(number, len(block), block_limit)
            known = self._known.setdefault(prefix, set())
            if kind == "one_off" and number not in known:
                history = [
                    len(self._new.get((prefix, bucket - hour), ()))
                    for hour in range(1, BASELINE_HOURS + 1)
                ]
                baseline = sum(history) / BASELINE_HOURS
                limit = max(limits.new_numbers_floor, limits.baseline_factor * baseline)
                fresh = self._new.setdefault((prefix, bucket), set())
                if len(fresh) >= limit:
                    return _held_new(prefix, len(fresh), limit, baseline)
                fresh.add(number)
            block.add(number)
            known.add(number)
        return Verdict(True)


def pumping_guard(
    redis_url: str, limits: GuardLimits | None, *, namespace: str = "sms"
) -> PumpingGuard:
    """The guard with ``limits``, or none when ``limits`` is None (the guard switched off)."""
    if limits is None:
        return NoPumpingGuard()
    if redis_url:
        return RedisPumpingGuard(redis_url, limits, namespace=namespace)
    return LocalPumpingGuard(limits)
