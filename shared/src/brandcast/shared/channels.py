"""The one table of channels and social networks.

Everything that needs to know what a channel or a network *is* reads it here: the
orchestrator's dispatcher (which channels get a dispatcher thread, which variant
an item carries), the renderer (a network's counting rule and length limit), the
admin (labels), the adapters (names on the bus and in settings) and the bench.

- A channel row: the ``brandcast.v1.Channel`` value, the short name (also the
  routing key, the field of ``ChannelSettings`` and of the ``DispatchItem``
  variant), a label for people, and the queue and task names derived from the name.
- A network row: the ``brandcast.v1.SocialNetwork`` value, the short name (the
  ``network:`` of an account, ``SOCIAL_NETWORKS``), a label, the NAME of the rule
  that counts a post's length, the network's limit, and the social adapter's
  class for it as ``"module:Class"`` (imported only by the social adapter, only
  when used). The counting rules themselves live with the renderer; this table
  only names them.

Adding a network is one module plus one row in ``NETWORKS`` (a network shipped
in another package registers its row with :func:`register_network`); adding a
channel is one row in ``CHANNELS`` (plus its proto enum value and variant). An
unknown value or name is an error (:class:`UnknownChannelError`,
:class:`UnknownNetworkError`), never a fall-through to some other channel.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from brandcast.v1 import campaign_pb2

#: Counting rule names (implemented by the renderer):
#: twitter-text v3 weights, every URL 23 (t.co).
COUNT_TWITTER_WEIGHTED: Final = "twitter-weighted"
#: Unicode code points, every URL counted as 23 characters.
COUNT_CODE_POINTS_SHORT_URLS: Final = "code-points-short-urls"
#: Extended grapheme clusters, URLs in full.
COUNT_GRAPHEMES: Final = "graphemes"
#: Unicode code points, URLs in full.
COUNT_CODE_POINTS: Final = "code-points"


class UnknownChannelError(ValueError):
    """A channel value or name that is not in the table."""


class UnknownNetworkError(ValueError):
    """A social network value or name that is not in the table."""


@dataclass(frozen=True)
class Channel:
    """One delivery channel and the names it goes by."""

    value: int
    name: str
    label: str

    @property
    def routing_key(self) -> str:
        """The routing key of its batches on the dispatch exchange."""
        return self.name

    @property
    def queue_name(self) -> str:
        """The durable queue its adapter consumes."""
        return dispatch_queue_name(self.name)

    @property
    def dead_letter_queue_name(self) -> str:
        return dead_letter_queue_name(self.name)

    @property
    def task_name(self) -> str:
        """The Celery task its adapter registers for dispatch batches."""
        return task_name(self.name)

    @property
    def settings_prefix(self) -> str:
        """The prefix of its adapter's environment variables (``SMS_``)."""
        return f"{self.name.upper()}_"


@dataclass(frozen=True)
class Network:
    """One social network: its names, how it counts a post and how long a post may be."""

    value: int
    name: str
    label: str
    #: The name of the counting rule (one of the ``COUNT_*`` constants).
    counting: str
    #: The longest post the network accepts, in its own counting.
    max_length: int
    #: The social adapter's class publishing to it, ``"module:Class"``.
    adapter: str = ""
    #: True when an account may say otherwise (a Mastodon instance's own limit).
    account_may_override_limit: bool = False


CHANNELS: Final[tuple[Channel, ...]] = (
    Channel(campaign_pb2.CHANNEL_EMAIL, "email", "Email"),
    Channel(campaign_pb2.CHANNEL_SMS, "sms", "SMS"),
    Channel(campaign_pb2.CHANNEL_SOCIAL, "social", "Social"),
)

_SOCIAL: Final = "brandcast.social.networks"

NETWORKS: tuple[Network, ...] = (
    Network(
        campaign_pb2.SOCIAL_NETWORK_MASTODON,
        "mastodon",
        "Mastodon",
        COUNT_CODE_POINTS_SHORT_URLS,
        500,
        adapter=f"{_SOCIAL}.mastodon:Mastodon",
        account_may_override_limit=True,
    ),
    Network(
        campaign_pb2.SOCIAL_NETWORK_BLUESKY,
        "bluesky",
        "Bluesky",
        COUNT_GRAPHEMES,
        300,
        adapter=f"{_SOCIAL}.bluesky:Bluesky",
    ),
    Network(
        campaign_pb2.SOCIAL_NETWORK_X,
        "x",
        "X",
        COUNT_TWITTER_WEIGHTED,
        280,
        adapter=f"{_SOCIAL}.x:X",
    ),
    Network(
        campaign_pb2.SOCIAL_NETWORK_LINKEDIN,
        "linkedin",
        "LinkedIn",
        COUNT_CODE_POINTS,
        3000,
        adapter=f"{_SOCIAL}.linkedin:LinkedIn",
    ),
)
#: What Brandcast ships: ``NETWORKS`` grows as other packages register theirs.
BUILTIN_NETWORKS: Final = NETWORKS

_CHANNELS_BY_VALUE: Final = {c.value: c for c in CHANNELS}
_CHANNELS_BY_NAME: Final = {c.name: c for c in CHANNELS}
_NETWORKS_BY_VALUE: Final[dict[int, Network]] = {n.value: n for n in NETWORKS}
_NETWORKS_BY_NAME: Final[dict[str, Network]] = {n.name: n for n in NETWORKS}


def channel(key: int | str) -> Channel:
    """The channel with this ``brandcast.v1.Channel`` value or short name.

    Raises :class:`UnknownChannelError` (with a did-you-mean for a misspelt name).
    """
    found = _CHANNELS_BY_NAME.get(key) if isinstance(key, str) else _CHANNELS_BY_VALUE.get(key)
    if found is None:
        raise UnknownChannelError(_unknown("channel", key, _CHANNELS_BY_NAME))
    return found


def network(key: int | str) -> Network:
    """The network with this ``brandcast.v1.SocialNetwork`` value or short name.

    Raises :class:`UnknownNetworkError` (with a did-you-mean for a misspelt name).
    """
    found = _NETWORKS_BY_NAME.get(key) if isinstance(key, str) else _NETWORKS_BY_VALUE.get(key)
    if found is None:
        raise UnknownNetworkError(_unknown("network", key, _NETWORKS_BY_NAME))
    return found


def register_network(row: Network) -> None:
    """Add a network shipped in another package (its module calls this on import).

    Registering the same row again is harmless; a different row under a taken
    value or name is an error.
    """
    global NETWORKS  # noqa: PLW0603 - the table grows by registration, never shrinks
    for taken in (_NETWORKS_BY_VALUE.get(row.value), _NETWORKS_BY_NAME.get(row.name)):
        if taken is not None and taken != row:
            raise ValueError(f"network {row.name!r} ({row.value}) clashes with {taken.name!r}")
    if row.name in _NETWORKS_BY_NAME:
        return
    NETWORKS = (*NETWORKS, row)
    _NETWORKS_BY_VALUE[row.value] = row
    _NETWORKS_BY_NAME[row.name] = row


def channel_names() -> tuple[str, ...]:
    return tuple(c.name for c in CHANNELS)


def network_names() -> tuple[str, ...]:
    return tuple(n.name for n in NETWORKS)


def builtin_network_names() -> tuple[str, ...]:
    """The networks Brandcast ships, whatever other packages registered since."""
    return tuple(n.name for n in BUILTIN_NETWORKS)


def networks() -> tuple[Network, ...]:
    """Every network, registered ones included (read ``NETWORKS`` through this)."""
    return NETWORKS


def dispatch_queue_name(channel_name: str) -> str:
    return f"brandcast.{channel_name}"


def dead_letter_queue_name(channel_name: str) -> str:
    return f"brandcast.{channel_name}.dead"


def task_name(channel_name: str) -> str:
    """The Celery task an adapter registers for dispatch batches of its channel."""
    return f"brandcast.{channel_name}.deliver_batch"


def _unknown(kind: str, key: int | str, known: Iterable[str]) -> str:
    if not isinstance(key, str):
        return f"unknown {kind} {key}"
    names = sorted(known)
    message = f"No such {kind}: {key!r}."
    close = difflib.get_close_matches(key, names, n=1)
    if close:
        message += f" Did you mean {close[0]!r}?"
    return f"{message} Known: {', '.join(names)}."
