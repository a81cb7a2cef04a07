"""``celery -A brandcast.email.worker worker``: the email worker app, configured from the env."""

from __future__ import annotations

from brandcast.email.bootstrap import create_worker
from brandcast.email.settings import EmailSettings

app = create_worker(EmailSettings())
