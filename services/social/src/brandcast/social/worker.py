"""The social adapter's Celery app (``celery -A brandcast.social.worker``).

Settings are read and validated on import; the networks are built lazily in
each worker process (HTTP connections do not survive a fork).
"""

from __future__ import annotations

import os

from brandcast.shared.delivery import Deliver
from brandcast.shared.worker import create_worker_app, register_delivery_task
from brandcast.social.bootstrap import bootstrap, retry_policy
from brandcast.social.settings import SocialSettings

CHANNEL = "social"

settings = SocialSettings()
app = create_worker_app(CHANNEL, settings.broker_url)

_deliver: tuple[int, Deliver] | None = None


def _deliver_in_this_process() -> Deliver:
    global _deliver  # noqa: PLW0603 - one wiring per worker process, built after fork
    if _deliver is None or _deliver[0] != os.getpid():
        _deliver = (os.getpid(), bootstrap(settings))
    return _deliver[1]


deliver_batch = register_delivery_task(
    app,
    CHANNEL,
    _deliver_in_this_process,
    broker_url=settings.broker_url,
    policy=retry_policy(settings),
)
