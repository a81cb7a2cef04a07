"""The networks a post can go to, each behind the one-method ``Network`` port."""

from brandcast.social.networks._port import Network
from brandcast.social.networks.bluesky import Bluesky
from brandcast.social.networks.linkedin import LinkedIn
from brandcast.social.networks.mastodon import Mastodon
from brandcast.social.networks.x import X

__all__ = ["Bluesky", "LinkedIn", "Mastodon", "Network", "X"]
