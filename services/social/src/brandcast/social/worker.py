"""The social adapter's Celery app (``celery -A brandcast.social.worker``).

Settings are read and validated on import; the networks are built lazily in
each worker process (HTTP connections do not survive a fork) by the adapter kit.
"""

from __future__ import annotations

from brandcast.social.bootstrap import ADAPTER
from brandcast.social.settings import SocialSettings

app = ADAPTER.create_worker(SocialSettings())
