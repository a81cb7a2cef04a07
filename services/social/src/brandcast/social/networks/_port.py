"""The one thing every network module implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from brandcast.shared.delivery import Outcome
from brandcast.social.accounts import AccountConfig, NetworkName
from brandcast.v1 import variant_pb2


class Network(ABC):
    """Publishes one post for one brand account.

    ``publish`` returns an ``Outcome`` with the network's post id and public URL,
    or raises ``TransientProviderError`` (throttled, network down: retried later)
    or ``PermanentProviderError`` (content refused, credentials missing or expired).
    """

    name: ClassVar[NetworkName]

    @abstractmethod
    def publish(
        self, account: AccountConfig, post: variant_pb2.SocialVariant, *, idempotency_key: str
    ) -> Outcome: ...

    def find_published(
        self, account: AccountConfig, post: variant_pb2.SocialVariant, *, since: float
    ) -> Outcome | None:
        """The post an earlier attempt of this delivery left, when the network can tell.

        Networks with an idempotency key (Mastodon) need no lookup, and some cannot
        list an account's posts: they return None, and a retry may post twice (the
        README's table says which).
        """
        return None
