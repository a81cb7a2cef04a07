"""The networks ``SOCIAL_NETWORKS`` may name: the channel table's rows.

Each row of ``brandcast.shared.channels.NETWORKS`` names its network class
(``"module:Class"``); a dotted path in ``SOCIAL_NETWORKS`` loads a network from
another package (its module registers its row with ``channels.register_network``).
"""

from __future__ import annotations

from brandcast.shared import channels
from brandcast.shared.provider_table import ProviderTable
from brandcast.social.networks._port import Network


def network_table() -> ProviderTable[Network]:
    """The table as the channel table stands now (registered networks included)."""
    return ProviderTable[Network](
        "social network", {row.name: row.adapter for row in channels.networks() if row.adapter}
    )
